using System.Net;
using Mercato.ServiceDefaults.Resilience;
using Mercato.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Mercato.Gateway.Tests;

/// <summary>
/// Anonymous rate limits count per client address. Behind an Ingress that address is in X-Forwarded-For, which the
/// gateway reads only when told to (ASPNETCORE_FORWARDEDHEADERS_ENABLED, set by deploy/overlays/production); otherwise
/// a client could pick its own address with the header.
/// </summary>
public sealed class ForwardedClientAddressTests : IAsyncLifetime
{
    private WebApplication _service = null!;

    public async Task InitializeAsync() => _service = await LoopbackServer.StartAsync(app => app.MapGet("/{**path}", () => "ok"));

    public async Task DisposeAsync() => await _service.DisposeAsync();

    private async Task<(HttpStatusCode FirstClientAgain, HttpStatusCode SecondClient)> TwoClientsAsync(bool forwardedHeaders,
        string first = "203.0.113.1", string second = "203.0.113.2")
    {
        await using var gateway = new GatewayFactory(
            new Dictionary<string, string> { ["catalog"] = LoopbackServer.AddressOf(_service) },
            forwardedHeaders ? new Dictionary<string, string> { ["ForwardedHeaders_Enabled"] = "true" } : null);
        using var client = gateway.CreateClient();
        // A first call under the default limits warms the route (YARP, the connection, JIT), so the calls below follow
        // each other within the bucket's one-second refill even on a loaded machine.
        using (var warmUp = new HttpRequestMessage(HttpMethod.Get, "/api/catalog/products/ping"))
        {
            warmUp.Headers.Add("X-Forwarded-For", "198.51.100.9");
            (await client.SendAsync(warmUp)).EnsureSuccessStatusCode();
        }
        // One anonymous call per client.
        gateway.Services.GetRequiredService<PolicyStore>().Apply(new MeshPolicy
        {
            Version = 2,
            Gateway = new GatewayPolicy { RateLimit = new GatewayRateLimit { AnonymousPermitsPerSecond = 1, AnonymousBurst = 1, UserPermitsPerSecond = 1, UserBurst = 1 } },
        });

        async Task<HttpStatusCode> FromAsync(string address)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/api/catalog/products/ping");
            request.Headers.Add("X-Forwarded-For", address);
            using var response = await client.SendAsync(request);
            return response.StatusCode;
        }

        Assert.Equal(HttpStatusCode.OK, await FromAsync(first));
        return (await FromAsync(first), await FromAsync(second));
    }

    [Fact]
    public async Task An_IPv6_client_has_one_bucket_for_its_whole_64_network_and_another_network_its_own()
    {
        // A client on IPv6 may send from any address of its /64: a fresh address must not buy a fresh bucket.
        var (again, sameNetwork) = await TwoClientsAsync(forwardedHeaders: true, "2001:db8:1:2::1", "2001:db8:1:2:ffff::9");
        var (_, otherNetwork) = await TwoClientsAsync(forwardedHeaders: true, "2001:db8:1:2::1", "2001:db8:1:3::1");

        Assert.Equal(HttpStatusCode.TooManyRequests, again);
        Assert.Equal(HttpStatusCode.TooManyRequests, sameNetwork);
        Assert.Equal(HttpStatusCode.OK, otherNetwork);
    }

    [Theory]
    [InlineData("203.0.113.7", "203.0.113.7")]
    [InlineData("::ffff:203.0.113.7", "203.0.113.7")]
    [InlineData("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64")]
    public void A_client_is_keyed_by_its_IPv4_address_or_its_IPv6_64_network(string address, string key) =>
        Assert.Equal(key, EdgeRateLimits.ClientKey(IPAddress.Parse(address)));

    [Fact]
    public async Task Behind_a_proxy_each_forwarded_client_address_has_its_own_anonymous_bucket()
    {
        var (again, other) = await TwoClientsAsync(forwardedHeaders: true);

        Assert.Equal(HttpStatusCode.TooManyRequests, again);
        Assert.Equal(HttpStatusCode.OK, other);
    }

    [Fact]
    public async Task Without_the_switch_a_forwarded_address_is_ignored_and_cannot_buy_a_new_bucket()
    {
        var (again, other) = await TwoClientsAsync(forwardedHeaders: false);

        Assert.Equal(HttpStatusCode.TooManyRequests, again);
        Assert.Equal(HttpStatusCode.TooManyRequests, other);
    }

    [Fact]
    public async Task Behind_a_proxy_metrics_and_the_detailed_health_report_are_not_served_to_forwarded_callers()
    {
        await using var gateway = new GatewayFactory(
            new Dictionary<string, string> { ["catalog"] = LoopbackServer.AddressOf(_service) },
            new Dictionary<string, string> { ["ForwardedHeaders_Enabled"] = "true" });
        // A connection from the Ingress's address, as the gateway's pod sees it (the test client has none of its own).
        async Task<HttpStatusCode> GetAsync(string path, bool throughTheIngress)
        {
            var context = await gateway.Server.SendAsync(http =>
            {
                http.Request.Method = HttpMethods.Get;
                http.Request.Path = path;
                http.Connection.RemoteIpAddress = IPAddress.Parse("10.0.0.5");
                if (throughTheIngress)
                {
                    http.Request.Headers["X-Forwarded-For"] = "203.0.113.7";
                }
            });
            return (HttpStatusCode)context.Response.StatusCode;
        }

        foreach (var path in (string[])["/metrics", "/health", "/health/"])
        {
            Assert.Equal(HttpStatusCode.NotFound, await GetAsync(path, throughTheIngress: true));
            Assert.Equal(HttpStatusCode.OK, await GetAsync(path, throughTheIngress: false));
        }
        foreach (var probe in (string[])["/health/live", "/health/ready"])
        {
            Assert.Equal(HttpStatusCode.OK, await GetAsync(probe, throughTheIngress: true));
        }
        Assert.Equal(HttpStatusCode.OK, await GetAsync("/api/catalog/products/ping", throughTheIngress: true));
    }
}
