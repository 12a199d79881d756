using Mercato.Registry;
using Mercato.ServiceDefaults.Discovery;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Mercato.Registry.Tests;

public sealed class ServiceRegistryTests
{
    private readonly FakeTimeProvider _time = new();
    private readonly ServiceRegistry _registry;

    public ServiceRegistryTests() => _registry = new ServiceRegistry(_time, NullLogger<ServiceRegistry>.Instance);

    private static InstanceRegistration Instance(string service, string id) => new(service, id, $"http://127.0.0.1:{5000 + id.Length}", "1.0.0");

    [Fact]
    public void Evicts_instances_after_missed_heartbeats_only()
    {
        _registry.Register(Instance("catalog", "a"));
        _registry.Register(Instance("catalog", "b"));

        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.True(_registry.Heartbeat("a"));
        _time.Advance(TimeSpan.FromSeconds(6));
        _registry.EvictSilent(TimeSpan.FromSeconds(15));

        Assert.Equal(["a"], _registry.Healthy("catalog").Select(i => i.InstanceId));
        Assert.False(_registry.Heartbeat("b"));
    }

    [Fact]
    public void Lists_healthy_instances_per_service()
    {
        _registry.Register(Instance("catalog", "c1"));
        _registry.Register(Instance("inventory", "i1"));

        Assert.Equal(["c1"], _registry.Healthy("catalog").Select(i => i.InstanceId));
        Assert.Equal(2, _registry.Healthy().Count);
        Assert.True(_registry.Deregister("c1", "test"));
        Assert.Empty(_registry.Healthy("catalog"));
        Assert.False(_registry.Deregister("c1", "test"));
    }

    [Fact]
    public void Re_registration_replaces_the_record_and_refreshes_it()
    {
        _registry.Register(Instance("catalog", "a"));
        _time.Advance(TimeSpan.FromSeconds(14));
        _registry.Register(Instance("catalog", "a") with { Address = "http://127.0.0.1:9999" });
        _time.Advance(TimeSpan.FromSeconds(14));
        _registry.EvictSilent(TimeSpan.FromSeconds(15));

        var only = Assert.Single(_registry.Healthy("catalog"));
        Assert.Equal("http://127.0.0.1:9999", only.Address);
    }
}

public sealed class ProbeEvictionTests
{
    [Fact]
    public void One_failed_probe_is_tolerated_two_in_a_row_evict()
    {
        var registry = new ServiceRegistry(new FakeTimeProvider(), NullLogger<ServiceRegistry>.Instance);
        registry.Register(new InstanceRegistration("catalog", "a", "http://127.0.0.1:1", "1.0.0"));

        Assert.False(registry.ProbeFailed("a", "timeout", evictAfter: 2));
        registry.ProbeSucceeded("a");
        Assert.False(registry.ProbeFailed("a", "timeout", evictAfter: 2));
        Assert.Single(registry.Healthy("catalog"));
        Assert.True(registry.ProbeFailed("a", "refused", evictAfter: 2));
        Assert.Empty(registry.Healthy("catalog"));
    }

    [Fact]
    public void Timeouts_evict_an_instance_with_siblings_but_never_the_last_one()
    {
        var registry = new ServiceRegistry(new FakeTimeProvider(), NullLogger<ServiceRegistry>.Instance);
        registry.Register(new InstanceRegistration("ordering", "a", "http://127.0.0.1:1", "1.0.0"));
        registry.Register(new InstanceRegistration("ordering", "b", "http://127.0.0.1:2", "1.0.0"));
        registry.Register(new InstanceRegistration("payment", "p", "http://127.0.0.1:3", "1.0.0"));

        Assert.False(registry.ProbeFailed("a", "timeout", evictAfter: 2, timedOut: true));
        Assert.True(registry.ProbeFailed("a", "timeout", evictAfter: 2, timedOut: true));
        // b is ordering's last instance now, p is payment's only one: slow answers keep them in service.
        for (var i = 0; i < 5; i++)
        {
            Assert.False(registry.ProbeFailed("b", "timeout", evictAfter: 2, timedOut: true));
            Assert.False(registry.ProbeFailed("p", "timeout", evictAfter: 2, timedOut: true));
        }
        Assert.Equal(["b"], registry.Healthy("ordering").Select(i => i.InstanceId));
        Assert.Single(registry.Healthy("payment"));
        // A refused or unhealthy answer still evicts the last instance.
        Assert.True(registry.ProbeFailed("b", "refused", evictAfter: 2));
        Assert.Empty(registry.Healthy("ordering"));
    }
    [Fact]
    public void An_instance_its_probes_evicted_comes_back_unlisted_until_a_probe_passes()
    {
        var time = new FakeTimeProvider();
        var registry = new ServiceRegistry(time, NullLogger<ServiceRegistry>.Instance);
        var unreachable = new InstanceRegistration("catalog", "a", "http://127.0.0.1:1", "1.0.0");
        registry.Register(unreachable);
        registry.ProbeFailed("a", "refused", evictAfter: 2);
        Assert.True(registry.ProbeFailed("a", "refused", evictAfter: 2));

        // Its next heartbeat is refused, and it registers again: kept, but not listed.
        Assert.Equal(InstanceStatus.Unhealthy, registry.Register(unreachable).Status);
        Assert.Empty(registry.Healthy("catalog"));
        Assert.Equal(InstanceStatus.Unhealthy, Assert.Single(registry.All()).Status);

        registry.ProbeSucceeded("a");
        Assert.Equal(["a"], registry.Healthy("catalog").Select(i => i.InstanceId));
        // Listed again for good: a later registration is not on probation.
        Assert.Equal(InstanceStatus.Healthy, registry.Register(unreachable).Status);
    }

    [Fact]
    public void Probation_is_only_for_probe_evictions_and_lasts_ten_minutes()
    {
        var time = new FakeTimeProvider();
        var registry = new ServiceRegistry(time, NullLogger<ServiceRegistry>.Instance);
        var silent = new InstanceRegistration("catalog", "silent", "http://127.0.0.1:1", "1.0.0");
        var refused = new InstanceRegistration("catalog", "refused", "http://127.0.0.1:2", "1.0.0");
        registry.Register(silent);
        registry.Register(refused);
        registry.ProbeFailed("refused", "refused", evictAfter: 1);
        time.Advance(TimeSpan.FromSeconds(20));
        registry.EvictSilent(TimeSpan.FromSeconds(15));

        Assert.Equal(InstanceStatus.Healthy, registry.Register(silent).Status);
        Assert.Equal(InstanceStatus.Unhealthy, registry.Register(refused).Status);
        Assert.True(registry.Deregister("refused", "test"));
        time.Advance(ServiceRegistry.ProbeEvictionMemory);
        registry.EvictSilent(TimeSpan.FromMinutes(30));
        Assert.Equal(InstanceStatus.Healthy, registry.Register(refused).Status);
    }

    [Fact]
    public void A_service_saturated_after_its_only_instance_was_evicted_gets_it_listed_again_when_its_probes_only_time_out()
    {
        var registry = new ServiceRegistry(new FakeTimeProvider(), NullLogger<ServiceRegistry>.Instance);
        var ordering = new InstanceRegistration("ordering", "o", "http://127.0.0.1:1", "1.0.0");
        registry.Register(ordering);
        Assert.True(registry.ProbeFailed("o", "answered 503", evictAfter: 1));
        registry.Register(ordering);
        Assert.Empty(registry.Healthy("ordering"));

        // Its probes time out under load: the last instance of a service is kept, and listed, as before any eviction.
        Assert.False(registry.ProbeFailed("o", "timeout", evictAfter: 1, timedOut: true));

        Assert.Equal(["o"], registry.Healthy("ordering").Select(i => i.InstanceId));
    }

    [Fact]
    public void An_instance_on_probation_is_no_sibling_that_lets_timeouts_evict_the_last_listed_one()
    {
        var registry = new ServiceRegistry(new FakeTimeProvider(), NullLogger<ServiceRegistry>.Instance);
        var unreachable = new InstanceRegistration("payment", "unreachable", "http://127.0.0.1:1", "1.0.0");
        registry.Register(unreachable);
        registry.ProbeFailed("unreachable", "refused", evictAfter: 1);
        registry.Register(unreachable);
        registry.Register(new InstanceRegistration("payment", "busy", "http://127.0.0.1:2", "1.0.0"));

        Assert.False(registry.ProbeFailed("busy", "timeout", evictAfter: 1, timedOut: true));

        Assert.Equal(["busy"], registry.Healthy("payment").Select(i => i.InstanceId));
    }
}
