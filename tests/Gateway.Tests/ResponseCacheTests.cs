using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Mercato.ServiceDefaults.Auth;
using Mercato.ServiceDefaults.Resilience;
using Mercato.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Mercato.Gateway.Tests;

/// <summary>
/// The gateway's shared response cache against a real HTTP service on loopback that counts the calls it gets and sets
/// whatever Cache-Control the test asks for (query <c>cc</c>), with the status asked for (query <c>status</c>).
/// </summary>
public sealed class ResponseCacheTests : IAsyncLifetime
{
    private const string Cacheable = "cc=public,%20max-age=0,%20s-maxage=60";
    private readonly ConcurrentDictionary<string, int> _calls = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _slowReadArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _releaseSlowRead = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private WebApplication _service = null!;
    private GatewayFactory _gateway = null!;
    private string _address = null!;

    public async Task InitializeAsync()
    {
        _service = await LoopbackServer.StartAsync(app =>
        {
            // The first answer for a path with cut=true is cut off after half its body.
            app.MapGet("/cut/{**path}", async (HttpContext context) =>
            {
                var call = _calls.AddOrUpdate(context.Request.Path + context.Request.QueryString, 1, (_, n) => n + 1);
                context.Response.Headers.CacheControl = "public, s-maxage=60";
                context.Response.ContentType = "application/json";
                var body = System.Text.Encoding.UTF8.GetBytes($"{{\"call\":{call},\"padding\":\"{new string('x', 4000)}\"}}");
                if (call == 1)
                {
                    await context.Response.Body.WriteAsync(body.AsMemory(0, body.Length / 2));
                    await context.Response.Body.FlushAsync();
                    context.Abort();
                    return;
                }
                await context.Response.Body.WriteAsync(body);
            });
            // The first read of this path waits inside the service until the test releases it.
            app.MapGet("/api/catalog/slow", async (HttpRequest request, HttpResponse response) =>
            {
                var call = _calls.AddOrUpdate("slow", 1, (_, n) => n + 1);
                if (call == 1)
                {
                    _slowReadArrived.SetResult();
                    await _releaseSlowRead.Task;
                }
                response.Headers.CacheControl = "public, max-age=0, s-maxage=60";
                return Results.Json(new Answer(call));
            });
            app.MapGet("/{**path}", (HttpRequest request, HttpResponse response) =>
            {
                var call = _calls.AddOrUpdate(request.Path + request.QueryString, 1, (_, n) => n + 1);
                if (request.Query["cc"] is { Count: > 0 } cacheControl)
                {
                    response.Headers.CacheControl = cacheControl.ToString();
                }
                return Results.Json(new Answer(call), statusCode: int.TryParse(request.Query["status"], out var status) ? status : 200);
            });
            app.MapMethods("/{**path}", ["PUT", "POST", "DELETE"], (int? status) => Results.StatusCode(status ?? StatusCodes.Status204NoContent));
        });
        _address = LoopbackServer.AddressOf(_service);
        _gateway = new GatewayFactory(new Dictionary<string, string> { ["catalog"] = _address, ["basket"] = _address });
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _service.DisposeAsync();
    }

    [Fact]
    public async Task A_public_answer_is_served_from_the_cache_with_its_age_and_the_service_is_asked_once()
    {
        using var client = _gateway.CreateClient();

        var first = await GetAsync(client, $"/api/catalog/products?{Cacheable}");
        var second = await GetAsync(client, $"/api/catalog/products?{Cacheable}");
        var otherPage = await GetAsync(client, $"/api/catalog/products?page=2&{Cacheable}");

        Assert.Equal(1, first.Call);
        Assert.Null(first.Response.Headers.Age);
        Assert.Equal(1, second.Call);
        Assert.NotNull(second.Response.Headers.Age);
        Assert.Equal(1, _calls[$"/api/catalog/products?{Cacheable}"]);
        Assert.Equal("public, max-age=0, s-maxage=60", second.Response.Headers.CacheControl?.ToString());
        Assert.Equal(1, otherPage.Call); // the query is part of the entry's key
    }

    [Fact]
    public async Task The_host_a_client_names_is_not_part_of_the_entry()
    {
        // The services never see the client's Host (the proxy sends their own), so the answer does not depend on it; a
        // client naming a new Host each time must not miss every time and push real entries out.
        using var client = _gateway.CreateClient();
        async Task<HttpResponseMessage> AtAsync(string host)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/catalog/products?page=3&{Cacheable}") { Headers = { Host = host } };
            return await client.SendAsync(request);
        }

        var first = await AtAsync("shop.example");
        var elsewhere = await AtAsync("h1.example");

        Assert.Equal(HttpStatusCode.OK, elsewhere.StatusCode);
        Assert.Null(first.Headers.Age);
        Assert.NotNull(elsewhere.Headers.Age);
        Assert.Equal(1, _calls[$"/api/catalog/products?page=3&{Cacheable}"]);
    }

    [Fact]
    public async Task The_same_values_in_another_order_are_another_entry()
    {
        // ?ids=b&ids=a answers b then a: the order of a key's values is part of what was asked.
        using var client = _gateway.CreateClient();

        var first = await GetAsync(client, $"/api/catalog/products?ids=b&ids=a&{Cacheable}");
        var reordered = await GetAsync(client, $"/api/catalog/products?ids=a&ids=b&{Cacheable}");
        var again = await GetAsync(client, $"/api/catalog/products?ids=a&ids=b&{Cacheable}");

        Assert.Equal(1, first.Call);
        Assert.Null(reordered.Response.Headers.Age);
        Assert.Equal(1, _calls[$"/api/catalog/products?ids=a&ids=b&{Cacheable}"]);
        Assert.NotNull(again.Response.Headers.Age);
    }

    [Theory]
    [InlineData("")]
    [InlineData("&cc=private,%20max-age=60")]
    [InlineData("&cc=public,%20no-store,%20max-age=60")]
    [InlineData("&cc=public,%20no-cache,%20max-age=60")]
    [InlineData("&cc=public,%20max-age=0")]
    [InlineData("&status=404&" + Cacheable)]
    public async Task An_answer_the_service_does_not_let_shared_caches_keep_reaches_the_service_every_time(string query)
    {
        using var client = _gateway.CreateClient();
        var url = $"/api/catalog/products?case={Guid.NewGuid():N}{query}";

        await GetAsync(client, url);
        var second = await GetAsync(client, url);

        Assert.Equal(2, second.Call);
        Assert.Null(second.Response.Headers.Age);
    }

    [Fact]
    public async Task A_token_or_no_cache_asks_the_service_no_store_keeps_nothing_and_the_metrics_count_each_outcome()
    {
        using var client = _gateway.CreateClient();
        var url = $"/api/catalog/products?{Cacheable}";
        var token = new AuthenticationHeaderValue("Bearer", _gateway.Tokens.Issue(Guid.NewGuid(), MercatoAuth.CustomerRole));

        Assert.Equal(1, (await GetAsync(client, url)).Call);
        Assert.Equal(2, (await GetAsync(client, url, r => r.Headers.Authorization = token)).Call);
        Assert.Equal(1, (await GetAsync(client, url)).Call); // a signed-in answer was not stored
        Assert.Equal(3, (await GetAsync(client, url, r => r.Headers.CacheControl = new CacheControlHeaderValue { NoCache = true })).Call);
        Assert.Equal(3, (await GetAsync(client, url)).Call); // no-cache refreshed the entry
        Assert.Equal(4, (await GetAsync(client, url, r => r.Headers.CacheControl = new CacheControlHeaderValue { NoStore = true })).Call);
        Assert.Equal(3, (await GetAsync(client, url)).Call); // no-store left it as it was

        var metrics = await client.GetStringAsync("/metrics");
        var counted = metrics.Split('\n').Where(l => l.StartsWith("gateway_response_cache_requests_total{", StringComparison.Ordinal)).ToList();
        Assert.Equal(1, CountOf(counted, "miss"));
        Assert.Equal(3, CountOf(counted, "hit"));
        Assert.Equal(2, CountOf(counted, "bypass"));
    }

    [Fact]
    public async Task A_successful_write_through_the_gateway_drops_that_service_s_entries()
    {
        using var client = _gateway.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", _gateway.Tokens.Issue(Guid.NewGuid(), MercatoAuth.CustomerRole));
        using var anonymous = _gateway.CreateClient();
        var url = $"/api/catalog/products/{Guid.NewGuid()}?{Cacheable}";

        Assert.Equal(1, (await GetAsync(anonymous, url)).Call);
        Assert.Equal(HttpStatusCode.NoContent, (await client.PutAsync("/api/basket", null)).StatusCode);
        Assert.Equal(1, (await GetAsync(anonymous, url)).Call); // another service's write
        Assert.Equal(HttpStatusCode.BadRequest, (await client.PutAsync("/api/catalog/products/x?status=400", null)).StatusCode);
        Assert.Equal(1, (await GetAsync(anonymous, url)).Call); // a refused write changed nothing
        Assert.Equal(HttpStatusCode.NoContent, (await client.PutAsync("/api/catalog/products/x", null)).StatusCode);
        Assert.Equal(2, (await GetAsync(anonymous, url)).Call);
    }

    [Fact]
    public async Task A_read_that_was_on_its_way_while_a_write_to_its_service_went_through_is_not_kept()
    {
        using var writer = _gateway.CreateClient();
        writer.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", _gateway.Tokens.Issue(Guid.NewGuid(), MercatoAuth.CustomerRole));
        using var anonymous = _gateway.CreateClient();

        var inFlight = GetAsync(anonymous, "/api/catalog/slow");
        await _slowReadArrived.Task;
        Assert.Equal(HttpStatusCode.NoContent, (await writer.PutAsync("/api/catalog/products/x", null)).StatusCode);
        _releaseSlowRead.SetResult();

        Assert.Equal(1, (await inFlight).Call);
        Assert.Equal(2, (await GetAsync(anonymous, "/api/catalog/slow")).Call);
        Assert.Equal(2, (await GetAsync(anonymous, "/api/catalog/slow")).Call);
    }

    [Fact]
    public async Task A_service_under_a_routing_rule_or_a_chaos_experiment_is_never_answered_from_the_cache()
    {
        using var client = _gateway.CreateClient();
        var policies = _gateway.Services.GetRequiredService<PolicyStore>();
        var url = $"/api/catalog/products?{Cacheable}";

        policies.Apply(new MeshPolicy { Version = 1, Targets = { ["catalog"] = new TargetPolicy { Routing = new RoutingPolicy { CanaryVersion = "2.0.0" } } } });
        await GetAsync(client, url);
        Assert.Equal(2, (await GetAsync(client, url)).Call);

        policies.Apply(new MeshPolicy { Version = 2, Targets = { ["catalog"] = new TargetPolicy { Faults = new FaultPolicy { ErrorRate = 0.5 } } } });
        Assert.Equal(3, (await GetAsync(client, url)).Call);
        Assert.Equal(4, (await GetAsync(client, url)).Call);

        policies.Apply(new MeshPolicy { Version = 3 });
        Assert.Equal(5, (await GetAsync(client, url)).Call);
        Assert.Equal(5, (await GetAsync(client, url)).Call);
    }

    [Fact]
    public async Task An_answer_cut_off_half_way_is_not_kept()
    {
        await using var gateway = new GatewayFactory(new Dictionary<string, string> { ["catalog"] = $"{_address}/cut" });
        using var client = gateway.CreateClient();
        const string url = "/api/catalog/products?case=cut";

        try
        {
            // The in-memory test client may see an error or a short body; either way it is not a whole answer.
            await (await client.GetAsync(url)).Content.ReadAsStringAsync();
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
        }
        var second = await GetAsync(client, url);

        Assert.Equal(2, second.Call);
        Assert.Null(second.Response.Headers.Age);
    }

    [Fact]
    public async Task An_entry_lives_no_longer_than_the_gateway_s_maximum_whatever_the_service_allows()
    {
        await using var gateway = new GatewayFactory(new Dictionary<string, string> { ["catalog"] = _address },
            new Dictionary<string, string> { ["Gateway:ResponseCache:MaxAge"] = "00:00:03" });
        using var client = gateway.CreateClient();
        var url = $"/api/catalog/products?case=max-age&cc=public,%20s-maxage=600";
        // Three seconds: the second read comes well within it even on a loaded machine.

        Assert.Equal(1, (await GetAsync(client, url)).Call);
        Assert.Equal(1, (await GetAsync(client, url)).Call);
        var giveUp = DateTime.UtcNow.AddSeconds(15);
        int call;
        do
        {
            await Task.Delay(250);
            call = (await GetAsync(client, url)).Call;
        }
        while (call == 1 && DateTime.UtcNow < giveUp);
        Assert.Equal(2, call);
    }

    [Fact]
    public async Task Switched_off_every_read_reaches_the_service()
    {
        await using var gateway = new GatewayFactory(new Dictionary<string, string> { ["catalog"] = _address },
            new Dictionary<string, string> { ["Gateway:ResponseCache:Enabled"] = "false" });
        using var client = gateway.CreateClient();
        var url = $"/api/catalog/products?case=off&{Cacheable}";

        await GetAsync(client, url);
        var second = await GetAsync(client, url);

        Assert.Equal(2, second.Call);
        Assert.Null(second.Response.Headers.Age);
    }

    private static int CountOf(List<string> lines, string result) =>
        (int)double.Parse(lines.Single(l => l.Contains($"result=\"{result}\"", StringComparison.Ordinal)).Split(' ')[^1], System.Globalization.CultureInfo.InvariantCulture);

    private static async Task<(HttpResponseMessage Response, int Call)> GetAsync(HttpClient client, string url, Action<HttpRequestMessage>? configure = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        configure?.Invoke(request);
        var response = await client.SendAsync(request);
        return (response, (await response.Content.ReadFromJsonAsync<Answer>())!.Call);
    }

    private sealed record Answer(int Call);
}
