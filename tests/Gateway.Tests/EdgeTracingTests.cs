using Mercato.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using System.Net.Http.Json;
using System.Text.Json;

namespace Mercato.Gateway.Tests;

/// <summary>The gateway starts every trace: a client's trace context and baggage do not reach the services.</summary>
public sealed class EdgeTracingTests : IAsyncLifetime
{
    private const string ClientTraceId = "0af7651916cd43dd8448eb211c80319c";

    private WebApplication _service = null!;

    public async Task InitializeAsync() => _service = await LoopbackServer.StartAsync(app => app.MapGet("/api/catalog/products", (HttpRequest request) =>
        Results.Json(new { traceparent = request.Headers["traceparent"].ToString(), baggage = request.Headers["baggage"].ToString() })));

    public async Task DisposeAsync() => await _service.DisposeAsync();

    [Fact]
    public async Task A_clients_traceparent_and_baggage_do_not_reach_the_service()
    {
        await using var gateway = new GatewayFactory(new Dictionary<string, string> { ["catalog"] = LoopbackServer.AddressOf(_service) });
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/catalog/products");
        request.Headers.Add("traceparent", $"00-{ClientTraceId}-b7ad6b7169203331-01");
        request.Headers.Add("baggage", "tenant=someone-else");

        var seen = await (await gateway.CreateClient().SendAsync(request)).Content.ReadFromJsonAsync<JsonElement>();

        var traceparent = seen.GetProperty("traceparent").GetString()!;
        Assert.Matches("^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$", traceparent);
        Assert.DoesNotContain(ClientTraceId, traceparent, StringComparison.Ordinal);
        Assert.DoesNotContain("someone-else", seen.GetProperty("baggage").GetString(), StringComparison.Ordinal);
    }
}
