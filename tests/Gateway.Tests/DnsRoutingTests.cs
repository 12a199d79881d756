using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Mercato.ServiceDefaults.Auth;
using Mercato.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Mercato.Gateway.Tests;

/// <summary>
/// The gateway without a registry, as on Kubernetes: routes come from <c>Gateway:StaticDestinations</c> (each
/// service's cluster DNS name), through the same route table, auth and user-context headers as registry routing.
/// The destination is a real HTTP server on loopback standing in for a service's Kubernetes Service.
/// </summary>
public sealed class DnsRoutingTests : IAsyncLifetime
{
    private WebApplication _service = null!;
    private GatewayFactory _gateway = null!;
    private string _serviceAddress = null!;

    public async Task InitializeAsync()
    {
        // Echoes what arrived, so the test sees the path and the headers the gateway forwarded.
        _service = await LoopbackServer.StartAsync(app => app.MapGet("/{**path}", (HttpRequest request) => Results.Json(new
        {
            path = request.Path.Value,
            userId = request.Headers["X-User-Id"].ToString(),
            roles = request.Headers["X-User-Roles"].ToString(),
            note = request.Headers["X-Note"].ToString(),
        })));
        var address = _serviceAddress = LoopbackServer.AddressOf(_service);
        _gateway = new GatewayFactory(new Dictionary<string, string> { ["catalog"] = address, ["basket"] = address, ["ordering"] = address, ["payment"] = address });
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _service.DisposeAsync();
    }

    [Fact]
    public async Task Public_catalog_reads_reach_the_configured_destination_without_a_token()
    {
        using var client = _gateway.CreateClient();

        var answer = await client.GetFromJsonAsync<Echo>("/api/catalog/products?page=1");

        Assert.Equal("/api/catalog/products", answer!.Path);
        Assert.Equal("", answer.UserId);
        // Forged by an anonymous caller: stripped, not passed on (services drop them too, so only this proves the gateway does).
        using var forged = new HttpRequestMessage(HttpMethod.Get, "/api/catalog/products");
        forged.Headers.Add("X-User-Id", Guid.NewGuid().ToString());
        forged.Headers.Add("X-User-Roles", MercatoAuth.AdminRole);
        var stripped = await (await client.SendAsync(forged)).Content.ReadFromJsonAsync<Echo>();
        Assert.Equal(("", ""), (stripped!.UserId, stripped.Roles));
        // The payment-method check is public too (README); the rest of payment is not.
        Assert.Equal("/api/payments/methods/tok_visa", (await client.GetFromJsonAsync<Echo>("/api/payments/methods/tok_visa"))!.Path);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/api/payments")).StatusCode);
    }

    [Fact]
    public async Task Header_values_beyond_ascii_reach_the_service_instead_of_failing_at_the_gateway()
    {
        using var client = _gateway.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/catalog/products");
        request.Headers.TryAddWithoutValidation("X-Note", "café ключ");

        var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("café ключ", (await response.Content.ReadFromJsonAsync<Echo>())!.Note);
    }

    [Fact]
    public async Task Private_routes_need_a_token_and_carry_the_user_context()
    {
        using var anonymous = _gateway.CreateClient();
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/basket")).StatusCode);

        var userId = Guid.NewGuid();
        using var client = _gateway.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", _gateway.Tokens.Issue(userId, MercatoAuth.CustomerRole));
        client.DefaultRequestHeaders.Add("X-User-Id", Guid.NewGuid().ToString()); // forged: the gateway replaces it

        var answer = await client.GetFromJsonAsync<Echo>("/api/basket");

        Assert.Equal("/api/basket", answer!.Path);
        Assert.Equal(userId.ToString(), answer.UserId);
        Assert.Equal(MercatoAuth.CustomerRole, answer.Roles);
    }

    [Fact]
    public async Task Configured_path_prefixes_apply_and_unknown_services_are_not_routed()
    {
        using var client = _gateway.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", _gateway.Tokens.Issue(Guid.NewGuid(), MercatoAuth.CustomerRole));

        var orders = await client.GetFromJsonAsync<Echo>("/api/orders/123");
        var unknown = await client.GetAsync("/api/notifications/123");

        Assert.Equal("/api/orders/123", orders!.Path);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    [Theory]
    [InlineData("/")]
    [InlineData("/ops/")]
    [InlineData("/js/app.js")]
    public async Task The_pages_may_not_be_framed_by_another_site_nor_sniffed(string path)
    {
        using var client = _gateway.CreateClient();

        var page = await client.GetAsync(path);

        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("DENY", Assert.Single(page.Headers.GetValues("X-Frame-Options")));
        Assert.Equal("frame-ancestors 'none'", Assert.Single(page.Headers.GetValues("Content-Security-Policy")));
        Assert.Equal("nosniff", Assert.Single(page.Headers.GetValues("X-Content-Type-Options")));
    }

    [Fact]
    public async Task The_gateway_is_ready_without_a_registry()
    {
        using var client = _gateway.CreateClient();

        var ready = await client.GetAsync("/health/ready");

        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }

    private sealed record Echo(string Path, string UserId, string Roles, string Note);

    /// <summary>The gateway's own /metrics after one proxied, authenticated request.</summary>
    private static async Task<string> MetricsAfterOneProxiedRequestAsync(GatewayFactory gateway)
    {
        using var client = gateway.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", gateway.Tokens.Issue(Guid.NewGuid(), MercatoAuth.CustomerRole));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/basket")).StatusCode);
        return await client.GetStringAsync("/metrics");
    }

    // Recorded several times per request and read by nobody: the gateway's CPU per request fell by ~8 % without them
    // (docs/benchmarks.md 5.25).
    private static readonly string[] PerRequestDiagnostics =
    [
        "aspnetcore_routing_match_attempts",
        "aspnetcore_authentication_authenticate_duration",
        "aspnetcore_authorization_attempts",
        "http_client_request_time_in_queue",
    ];

    [Fact]
    public async Task Per_request_diagnostic_metrics_are_left_out_and_the_request_metrics_kept()
    {
        var metrics = await MetricsAfterOneProxiedRequestAsync(_gateway);

        Assert.Contains("http_server_request_duration_seconds_bucket{", metrics, StringComparison.Ordinal);
        Assert.Contains("http_client_request_duration_seconds_bucket{", metrics, StringComparison.Ordinal);
        Assert.Contains("requests_total{", metrics, StringComparison.Ordinal);
        Assert.All(PerRequestDiagnostics, name => Assert.DoesNotContain(name, metrics, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Diagnostic_metrics_come_back_when_asked_for()
    {
        await using var gateway = new GatewayFactory(new Dictionary<string, string> { ["basket"] = _serviceAddress },
            new Dictionary<string, string> { ["Telemetry:DiagnosticMetrics"] = "true" });

        var metrics = await MetricsAfterOneProxiedRequestAsync(gateway);

        Assert.All(PerRequestDiagnostics, name => Assert.Contains(name, metrics, StringComparison.Ordinal));
    }
}
