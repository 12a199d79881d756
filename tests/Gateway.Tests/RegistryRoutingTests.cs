using System.Net;
using Mercato.ServiceDefaults.Discovery;
using Mercato.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Mercato.Gateway.Tests;

/// <summary>
/// The gateway's routes from a registry, here a stand-in serving the registry's API on loopback, so the test decides
/// what it lists and when it has just restarted.
/// </summary>
public sealed class RegistryRoutingTests : IAsyncLifetime
{
    private WebApplication _catalog = null!;
    private WebApplication _registry = null!;
    private volatile ServiceInstance[] _listed = [];
    private volatile bool _warming;
    private int _lookups;

    public async Task InitializeAsync()
    {
        _catalog = await LoopbackServer.StartAsync(app => app.MapGet("/api/catalog/products", () => "from the catalog"));
        _registry = await LoopbackServer.StartAsync(app =>
        {
            app.MapGet("/registry/v1/instances", (HttpResponse response) =>
            {
                if (_warming)
                {
                    response.Headers[RegistryWarming.Header] = "true";
                }
                Interlocked.Increment(ref _lookups);
                return Results.Json(_listed);
            });
            app.MapPost("/registry/v1/instances", () => Results.StatusCode(StatusCodes.Status201Created));
            app.MapPut("/registry/v1/instances/{id}/heartbeat", () => Results.NoContent());
            app.MapDelete("/registry/v1/instances/{id}", () => Results.NoContent());
            app.MapGet("/registry/v1/policies", () => Results.StatusCode(StatusCodes.Status304NotModified));
        });
    }

    public async Task DisposeAsync()
    {
        await _registry.DisposeAsync();
        await _catalog.DisposeAsync();
    }

    private async Task WaitForLookupsAsync(int count)
    {
        var until = Volatile.Read(ref _lookups) + count;
        for (var i = 0; i < 300 && Volatile.Read(ref _lookups) < until; i++)
        {
            await Task.Delay(50);
        }
        Assert.True(Volatile.Read(ref _lookups) >= until, "the gateway stopped asking the registry for routes");
    }

    [Fact]
    public async Task A_restarted_registry_that_has_not_heard_from_an_instance_yet_does_not_take_its_route_away()
    {
        var catalog = new ServiceInstance("catalog", "catalog-1", LoopbackServer.AddressOf(_catalog), "1.0.0",
            InstanceStatus.Healthy, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, new Dictionary<string, string>());
        _listed = [catalog];
        await using var gateway = new GatewayFactory([], new() { ["Registry:Url"] = LoopbackServer.AddressOf(_registry), ["Gateway:RefreshInterval"] = "00:00:00.100", ["Registry:AdvertisedAddress"] = "http://127.0.0.1:9" });
        var client = gateway.CreateClient();
        await WaitForLookupsAsync(2);
        Assert.Equal("from the catalog", await client.GetStringAsync("/api/catalog/products"));

        // Restarted: it lists nothing yet, and says it is warming up.
        (_warming, _listed) = (true, []);
        await WaitForLookupsAsync(3);
        Assert.Equal("from the catalog", await client.GetStringAsync("/api/catalog/products"));

        // Warmed up and still without the instance: it is gone.
        _warming = false;
        await WaitForLookupsAsync(3);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync("/api/catalog/products")).StatusCode);
    }
    [Fact]
    public async Task A_gateway_started_while_the_registry_is_down_answers_503_for_known_services_not_401()
    {
        await using var gateway = new GatewayFactory([], new() { ["Registry:Url"] = "http://127.0.0.1:9", ["Gateway:RefreshInterval"] = "00:00:00.100", ["Registry:AdvertisedAddress"] = "http://127.0.0.1:9" });
        var client = gateway.CreateClient();

        // The first lookup fails at once (nothing listens on port 9); its table is in force within moments.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var read = await client.GetAsync("/api/catalog/products");
        while (read.StatusCode == HttpStatusCode.Unauthorized && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
            read = await client.GetAsync("/api/catalog/products");
        }

        await ProblemAssert.IsProblem(read, HttpStatusCode.ServiceUnavailable);
        Assert.NotNull(read.Headers.RetryAfter);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync("/health/ready")).StatusCode);
    }
}
