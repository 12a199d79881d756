using System.Net.Http.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Mercato.ServiceDefaults.Discovery;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Mercato.Registry.Tests;

/// <summary>The client-side discovery cache against the real registry API (in process).</summary>
public sealed class ServiceInstanceCacheTests(RegistryFactory registry, HealthyInstance live) : IClassFixture<RegistryFactory>, IClassFixture<HealthyInstance>
{
    private sealed class Switch(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        public bool Down { get; set; }

        public int Calls { get; private set; }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Calls++;
            return Down ? throw new HttpRequestException(HttpRequestError.ConnectionError, "registry down") : base.SendAsync(request, cancellationToken);
        }
    }

    private (ServiceInstanceCache Cache, Switch Network, FakeTimeProvider Time) CreateCache()
    {
        var network = new Switch(registry.Server.CreateHandler());
        var client = new RegistryClient(new HttpClient(network) { BaseAddress = registry.Server.BaseAddress });
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var options = Options.Create(new RegistryOptions { CacheTtl = TimeSpan.FromSeconds(30) });
        return (new ServiceInstanceCache(client, options, time, NullLogger<ServiceInstanceCache>.Instance), network, time);
    }

    private async Task<InstanceRegistration> RegisterAsync(string service)
    {
        var instance = new InstanceRegistration(service, $"{service}-{Guid.NewGuid():N}", live.Address, "1.0.0");
        (await registry.CreateClient().PostAsJsonAsync("/registry/v1/instances", instance)).EnsureSuccessStatusCode();
        return instance;
    }

    /// <summary>Sends every request to whichever registry is current, as a registry restart behind one address would.</summary>
    private sealed class RestartableRegistry(HttpMessageHandler first) : HttpMessageHandler
    {
        public HttpMessageHandler Current { get; set; } = first;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            new HttpMessageInvoker(Current, disposeHandler: false).SendAsync(request, cancellationToken);
    }

    [Fact]
    public async Task After_a_registry_restart_instances_it_does_not_list_yet_are_kept_until_it_has_warmed_up()
    {
        var service = $"svc{Guid.NewGuid():N}"[..20];
        var gone = await RegisterAsync(service);
        var back = await RegisterAsync(service);
        var network = new RestartableRegistry(registry.Server.CreateHandler());
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var cache = new ServiceInstanceCache(new RegistryClient(new HttpClient(network) { BaseAddress = registry.Server.BaseAddress }),
            Options.Create(new RegistryOptions { CacheTtl = TimeSpan.FromSeconds(30) }), time, NullLogger<ServiceInstanceCache>.Instance);
        Assert.Equal(2, (await cache.GetInstancesAsync(service, default)).Count);

        // Restarted with nothing in memory; one instance has registered again so far.
        await using var restarted = registry.WithWebHostBuilder(b => b.UseSetting("RegistryServer:WarmUp", "01:00:00"));
        (await restarted.CreateClient().PostAsJsonAsync("/registry/v1/instances", back)).EnsureSuccessStatusCode();
        network.Current = restarted.Server.CreateHandler();
        time.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal([back.InstanceId, gone.InstanceId], (await cache.GetInstancesAsync(service, default)).Select(i => i.InstanceId));

        // Warmed up: what it lists now is the truth.
        await using var warm = registry.WithWebHostBuilder(b => b.UseSetting("RegistryServer:WarmUp", "00:00:00"));
        (await warm.CreateClient().PostAsJsonAsync("/registry/v1/instances", back)).EnsureSuccessStatusCode();
        network.Current = warm.Server.CreateHandler();
        time.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal([back.InstanceId], (await cache.GetInstancesAsync(service, default)).Select(i => i.InstanceId));
    }

    [Fact]
    public async Task Serves_from_cache_within_the_ttl_and_refreshes_after_it()
    {
        var (cache, network, time) = CreateCache();
        var service = $"svc{Guid.NewGuid():N}"[..20];
        var first = await RegisterAsync(service);

        Assert.Single(await cache.GetInstancesAsync(service, default));
        var second = await RegisterAsync(service);
        var calls = network.Calls;
        Assert.Single(await cache.GetInstancesAsync(service, default));
        Assert.Equal(calls, network.Calls);

        time.Advance(TimeSpan.FromSeconds(31));
        var refreshed = await cache.GetInstancesAsync(service, default);
        Assert.Equal(new[] { first.InstanceId, second.InstanceId }.Order(StringComparer.Ordinal), refreshed.Select(i => i.InstanceId).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Invalidation_refreshes_early_and_fires_the_change_token()
    {
        var (cache, _, _) = CreateCache();
        var service = $"svc{Guid.NewGuid():N}"[..20];
        await RegisterAsync(service);
        await cache.GetInstancesAsync(service, default);
        var token = cache.GetChangeToken(service);
        await RegisterAsync(service);

        cache.Invalidate(service);

        Assert.True(token.HasChanged);
        Assert.Equal(2, (await cache.GetInstancesAsync(service, default)).Count);
    }

    [Fact]
    public async Task Keeps_the_last_known_instances_while_the_registry_is_down()
    {
        var (cache, network, time) = CreateCache();
        var service = $"svc{Guid.NewGuid():N}"[..20];
        var instance = await RegisterAsync(service);
        await cache.GetInstancesAsync(service, default);

        network.Down = true;
        time.Advance(TimeSpan.FromMinutes(5));
        var duringOutage = await cache.GetInstancesAsync(service, default);
        cache.Invalidate(service);
        var afterInvalidation = await cache.GetInstancesAsync(service, default);
        var unknownService = await Record.ExceptionAsync(() => cache.GetInstancesAsync("never-seen", default).AsTask());

        Assert.Equal(instance.InstanceId, Assert.Single(duringOutage).InstanceId);
        Assert.Equal(instance.InstanceId, Assert.Single(afterInvalidation).InstanceId);
        Assert.IsType<HttpRequestException>(unknownService);
    }
}
