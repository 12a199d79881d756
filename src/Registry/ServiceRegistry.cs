using System.Collections.Concurrent;
using Mercato.ServiceDefaults.Discovery;

namespace Mercato.Registry;

/// <summary>The spec's ServiceRegistry: service name → instances, each with its last heartbeat.</summary>
public sealed class ServiceRegistry(TimeProvider time, ILogger<ServiceRegistry> logger)
{
    private readonly ConcurrentDictionary<string, ServiceInstance> _instances = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _failedProbes = new(StringComparer.Ordinal);
    // Instances evicted because their probes failed, and when: they come back only once a probe passes.
    private readonly ConcurrentDictionary<string, DateTimeOffset> _evictedByProbe = new(StringComparer.Ordinal);
    private readonly Lock _probeEvictions = new();
    private readonly DateTimeOffset _startedAt = time.GetUtcNow();

    /// <summary>Started less than <paramref name="warmUp"/> ago: instances alive before a restart may not be back yet.</summary>
    public bool IsWarming(TimeSpan warmUp) => time.GetUtcNow() - _startedAt < warmUp;

    /// <summary>How long an eviction by failed probes is remembered: a registration within it waits for a passing probe.</summary>
    public static readonly TimeSpan ProbeEvictionMemory = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Lists the instance at once, unless its probes failed it out of the registry lately: an instance the registry
    /// cannot reach (a wrong advertised address, a one-way firewall) still heartbeats, and would otherwise be back in
    /// rotation after every eviction. Such an instance is kept unhealthy, unlisted, until a probe passes
    /// (<see cref="ProbeSucceeded"/>).
    /// </summary>
    public ServiceInstance Register(InstanceRegistration registration)
    {
        var now = time.GetUtcNow();
        var onProbation = _evictedByProbe.TryGetValue(registration.InstanceId, out var evictedAt) && now - evictedAt < ProbeEvictionMemory;
        var instance = new ServiceInstance(
            registration.ServiceName, registration.InstanceId, registration.Address.TrimEnd('/'), registration.Version,
            onProbation ? InstanceStatus.Unhealthy : InstanceStatus.Healthy, now, now, registration.Metadata ?? new Dictionary<string, string>());
        _instances[registration.InstanceId] = instance;
        _failedProbes.TryRemove(registration.InstanceId, out _);
        logger.LogInformation("Registered {Service} instance {Instance} at {Address} (version {Version}){Probation}",
            instance.ServiceName, instance.InstanceId, instance.Address, instance.Version,
            onProbation ? ", unlisted until a readiness probe passes: its probes failed it out lately" : "");
        return instance;
    }

    /// <summary>
    /// Why a new instance cannot be taken, or null. A registration renewing its own id always can. The limits are soft:
    /// registrations racing each other may pass them by a few.
    /// </summary>
    public string? Full(InstanceRegistration registration, int maxPerService, int maxInstances)
    {
        if (_instances.ContainsKey(registration.InstanceId))
        {
            return null;
        }
        if (_instances.Count >= maxInstances)
        {
            return $"The registry holds its maximum of {maxInstances} instances.";
        }
        return _instances.Values.Count(i => i.ServiceName == registration.ServiceName) >= maxPerService
            ? $"Service '{registration.ServiceName}' has its maximum of {maxPerService} instances."
            : null;
    }

    public bool Heartbeat(string instanceId)
    {
        while (_instances.TryGetValue(instanceId, out var current))
        {
            if (_instances.TryUpdate(instanceId, current with { LastHeartbeat = time.GetUtcNow() }, current))
            {
                return true;
            }
        }
        return false;
    }

    public bool Deregister(string instanceId, string reason) =>
        _instances.TryRemove(instanceId, out var removed) && Removed(removed, reason);

    /// <summary>Removes the instance only if it is still exactly <paramref name="seen"/>: not renewed or re-registered since.</summary>
    private bool Deregister(ServiceInstance seen, string reason) =>
        _instances.TryRemove(new KeyValuePair<string, ServiceInstance>(seen.InstanceId, seen)) && Removed(seen, reason);

    private bool Removed(ServiceInstance removed, string reason)
    {
        // After the instance is gone: a probe that counts a failure in between sees it gone and drops its count itself.
        _failedProbes.TryRemove(removed.InstanceId, out _);
        logger.LogInformation("Removed {Service} instance {Instance}: {Reason}", removed.ServiceName, removed.InstanceId, reason);
        return true;
    }

    public ServiceInstance? Find(string instanceId) => _instances.GetValueOrDefault(instanceId);

    public IReadOnlyList<ServiceInstance> All() =>
        [.. _instances.Values.OrderBy(i => i.ServiceName, StringComparer.Ordinal).ThenBy(i => i.InstanceId, StringComparer.Ordinal)];

    public IReadOnlyList<ServiceInstance> Healthy(string? serviceName = null) =>
        [.. All().Where(i => i.Status == InstanceStatus.Healthy && (serviceName is null || i.ServiceName == serviceName))];

    /// <summary>
    /// Counts a failed readiness probe; the instance is evicted once <paramref name="evictAfter"/> probes in a row failed,
    /// so one slow answer from a busy instance does not take it out of service. A probe that only <paramref name="timedOut"/>
    /// never evicts the last instance of its service: a saturated instance answers late but still serves (and still
    /// heartbeats), and evicting it would turn slowness into a full outage of the service (the idea of Envoy's panic
    /// threshold). An instance that refuses or answers unhealthy is evicted regardless, and one that stops heartbeating
    /// is evicted by <see cref="EvictSilent"/>.
    /// </summary>
    /// <returns>true when the instance was evicted.</returns>
    public bool ProbeFailed(string instanceId, string reason, int evictAfter, bool timedOut = false)
    {
        var failures = _failedProbes.AddOrUpdate(instanceId, 1, (_, n) => n + 1);
        if (!_instances.ContainsKey(instanceId))
        {
            // Deregistered while it was probed: its count would never be cleared (instance ids are not reused).
            _failedProbes.TryRemove(instanceId, out _);
            return false;
        }
        if (failures < evictAfter)
        {
            return false;
        }
        // Probes run in parallel: two hung siblings must not each see the other and both be evicted.
        lock (_probeEvictions)
        {
            if (timedOut && _instances.TryGetValue(instanceId, out var instance)
                && !_instances.Values.Any(other => other.ServiceName == instance.ServiceName && other.InstanceId != instanceId
                    && other.Status == InstanceStatus.Healthy))
            {
                // The service's last listed instance, or one on probation while none is listed: a saturated service is
                // served slowly rather than not at all, so it is (or stays) listed.
                List(instanceId);
                logger.LogWarning("Kept {Service} instance {Instance} after {Failures} probes in a row timed out: it is the service's last instance",
                    instance.ServiceName, instanceId, failures);
                return false;
            }
            if (!Deregister(instanceId, reason))
            {
                return false;
            }
            _evictedByProbe[instanceId] = time.GetUtcNow();
            return true;
        }
    }

    /// <summary>Clears the instance's failed probes, and lists it if it was waiting for a passing probe.</summary>
    public void ProbeSucceeded(string instanceId)
    {
        _failedProbes.TryRemove(instanceId, out _);
        _evictedByProbe.TryRemove(instanceId, out _);
        if (List(instanceId) is { } listed)
        {
            logger.LogInformation("{Service} instance {Instance} passed its readiness probe: listed again", listed.ServiceName, instanceId);
        }
    }

    /// <summary>Marks an instance on probation healthy; the instance, or null when it was not on probation (or is gone).</summary>
    private ServiceInstance? List(string instanceId)
    {
        while (_instances.TryGetValue(instanceId, out var current) && current.Status != InstanceStatus.Healthy)
        {
            if (_instances.TryUpdate(instanceId, current with { Status = InstanceStatus.Healthy }, current))
            {
                return current;
            }
        }
        return null;
    }

    /// <summary>Removes instances whose heartbeat is older than <paramref name="timeout"/>.</summary>
    public void EvictSilent(TimeSpan timeout)
    {
        var forgetBefore = time.GetUtcNow() - ProbeEvictionMemory;
        foreach (var (instanceId, evictedAt) in _evictedByProbe.Where(e => e.Value < forgetBefore))
        {
            _evictedByProbe.TryRemove(new KeyValuePair<string, DateTimeOffset>(instanceId, evictedAt));
        }
        var cutoff = time.GetUtcNow() - timeout;
        foreach (var instance in _instances.Values.Where(i => i.LastHeartbeat < cutoff))
        {
            // A heartbeat that lands after this look keeps the instance: it was answered as accepted.
            Deregister(instance, $"no heartbeat since {instance.LastHeartbeat:O}");
        }
    }
}
