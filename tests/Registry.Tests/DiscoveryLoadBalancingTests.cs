using System.Net.Http.Json;
using Mercato.ServiceDefaults.Discovery;
using Mercato.Testing;
using Mercato.ServiceDefaults.Resilience;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.ServiceDiscovery;

namespace Mercato.Registry.Tests;

/// <summary>
/// http://{service} through Microsoft.Extensions.ServiceDiscovery with the registry-backed provider: requests spread
/// over the registered instances, and a refused connection makes the client drop the dead one at once.
/// </summary>
public sealed class DiscoveryLoadBalancingTests(RegistryFactory registry) : IClassFixture<RegistryFactory>
{
    private static Task<WebApplication> StartInstanceAsync(string name) => LoopbackServer.StartAsync(app =>
    {
        app.MapGet("/health/ready", () => Results.Ok());
        app.MapGet("/who", () => name);
    });

    private static string AddressOf(WebApplication app) => LoopbackServer.AddressOf(app);

    private ServiceProvider CreateClientServices(PolicyStore? policies = null)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<Microsoft.Extensions.Configuration.IConfiguration>(new Microsoft.Extensions.Configuration.ConfigurationBuilder().Build());
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(Options.Create(new RegistryOptions { CacheTtl = TimeSpan.FromSeconds(30) }));
        services.AddSingleton(new RegistryClient(new HttpClient(registry.Server.CreateHandler()) { BaseAddress = registry.Server.BaseAddress }));
        services.AddSingleton<ServiceInstanceCache>();
        services.AddSingleton<IServiceEndpointProviderFactory, RegistryEndpointProviderFactory>();
        services.AddTransient<DiscoveryRefreshHandler>();
        services.AddServiceDiscovery();
        services.AddSingleton(policies ?? new PolicyStore("caller"));
        services.AddHttpContextAccessor();
        services.AddTransient<VersionRoutingHandler>();
        services.AddHttpClient("svc").AddHttpMessageHandler<VersionRoutingHandler>().AddHttpMessageHandler<DiscoveryRefreshHandler>().AddServiceDiscovery();
        return services.BuildServiceProvider();
    }

    [Fact]
    public async Task Spreads_requests_over_instances_and_drops_a_dead_one_after_a_refused_connection()
    {
        var service = $"lb{Guid.NewGuid():N}"[..16];
        await using var a = await StartInstanceAsync("a");
        var b = await StartInstanceAsync("b");
        var registryApi = registry.CreateClient();
        foreach (var (id, app) in new[] { ("a", a), ("b", b) })
        {
            (await registryApi.PostAsJsonAsync("/registry/v1/instances", new InstanceRegistration(service, $"{service}-{id}", AddressOf(app), "1.0.0")))
                .EnsureSuccessStatusCode();
        }
        await using var clientServices = CreateClientServices();
        var http = clientServices.GetRequiredService<IHttpClientFactory>().CreateClient("svc");

        var answers = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            answers.Add(await http.GetStringAsync($"http://{service}/who"));
        }
        Assert.Equal(3, answers.Count(x => x == "a"));
        Assert.Equal(3, answers.Count(x => x == "b"));

        // b dies; the registry is told, but the client's cache (TTL 30 s) still lists it.
        await b.DisposeAsync();
        await registryApi.DeleteAsync($"/registry/v1/instances/{service}-b");
        var failures = 0;
        var afterDeath = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            try
            {
                afterDeath.Add(await http.GetStringAsync($"http://{service}/who"));
            }
            catch (HttpRequestException)
            {
                failures++;
            }
        }

        Assert.True(failures <= 1, $"{failures} calls failed; only the first refused connection should reach the caller");
        Assert.All(afterDeath, x => Assert.Equal("a", x));
        Assert.True(afterDeath.Count >= 5);
    }

    [Fact]
    public async Task A_service_client_follows_the_routing_rule_weights_and_the_canary_header()
    {
        var service = $"vr{Guid.NewGuid():N}"[..16];
        await using var stable = await StartInstanceAsync("v1");
        await using var canary = await StartInstanceAsync("v2");
        var registryApi = registry.CreateClient();
        foreach (var (id, app, version) in new[] { ("a", stable, "1.0.0"), ("b", canary, "2.0.0") })
        {
            (await registryApi.PostAsJsonAsync("/registry/v1/instances", new InstanceRegistration(service, $"{service}-{id}", AddressOf(app), version)))
                .EnsureSuccessStatusCode();
        }
        var policies = new PolicyStore("caller");
        policies.Apply(new MeshPolicy
        {
            Version = 1,
            Targets = { [service] = new TargetPolicy { Routing = new RoutingPolicy { Weights = { ["1.0.0"] = 90, ["2.0.0"] = 10 }, CanaryVersion = "2.0.0" } } },
        });
        await using var clientServices = CreateClientServices(policies);
        var http = clientServices.GetRequiredService<IHttpClientFactory>().CreateClient("svc");

        var answers = new List<string>();
        for (var i = 0; i < 1000; i++)
        {
            answers.Add(await http.GetStringAsync($"http://{service}/who"));
        }
        Assert.InRange(answers.Count(a => a == "v2"), 50, 150);

        for (var i = 0; i < 50; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"http://{service}/who");
            request.Headers.Add("X-Canary", "true");
            using var response = await http.SendAsync(request);
            Assert.Equal("v2", await response.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task A_call_routed_by_version_to_a_dead_instance_keeps_its_logical_address_and_drops_the_cached_instances()
    {
        var service = $"vd{Guid.NewGuid():N}"[..16];
        await using var alive = await StartInstanceAsync("alive");
        // Alive while the client caches it (a dead one could be evicted by the registry's probes before that), then stopped.
        var doomed = await StartInstanceAsync("doomed");
        var registryApi = registry.CreateClient();
        var dead = new InstanceRegistration(service, $"{service}-dead", AddressOf(doomed), "2.0.0");
        foreach (var instance in new[] { new InstanceRegistration(service, $"{service}-alive", AddressOf(alive), "2.0.0"), dead })
        {
            (await registryApi.PostAsJsonAsync("/registry/v1/instances", instance)).EnsureSuccessStatusCode();
        }
        var policies = new PolicyStore("caller");
        policies.Apply(new MeshPolicy
        {
            Version = 1,
            Targets = { [service] = new TargetPolicy { Routing = new RoutingPolicy { Weights = { ["2.0.0"] = 100 } } } },
        });
        await using var clientServices = CreateClientServices(policies);
        var http = clientServices.GetRequiredService<IHttpClientFactory>().CreateClient("svc");
        // The client caches both instances (for 30 s); then the dead one leaves the registry.
        Assert.Equal(2, (await clientServices.GetRequiredService<ServiceInstanceCache>().GetInstancesAsync(service, CancellationToken.None)).Count);
        await doomed.StopAsync();
        await doomed.DisposeAsync();
        (await registryApi.DeleteAsync($"/registry/v1/instances/{dead.InstanceId}")).EnsureSuccessStatusCode();

        HttpRequestException? refused = null;
        for (var i = 0; i < 50 && refused is null; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"http://{service}/who");
            refused = await Record.ExceptionAsync(() => http.SendAsync(request)) as HttpRequestException;
            // What a retry of this message would be routed from.
            Assert.Equal($"http://{service}/who", request.RequestUri!.ToString());
        }

        Assert.NotNull(refused);
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal("alive", await http.GetStringAsync($"http://{service}/who"));
        }
    }
}
