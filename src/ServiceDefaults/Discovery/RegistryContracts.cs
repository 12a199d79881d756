namespace Mercato.ServiceDefaults.Discovery;

/// <summary>What an instance tells the registry about itself when it starts.</summary>
public sealed record InstanceRegistration(
    string ServiceName,
    string InstanceId,
    string Address,
    string Version,
    IReadOnlyDictionary<string, string>? Metadata = null);

/// <summary>An instance as the registry knows it.</summary>
public sealed record ServiceInstance(
    string ServiceName,
    string InstanceId,
    string Address,
    string Version,
    string Status,
    DateTimeOffset RegisteredAt,
    DateTimeOffset LastHeartbeat,
    IReadOnlyDictionary<string, string> Metadata);

public static class InstanceStatus
{
    public const string Healthy = "healthy";
    public const string Unhealthy = "unhealthy";
}

/// <summary>
/// A registry that started moments ago may not list every live instance yet (it holds instances in memory, and they
/// register again at their next heartbeat). Its lookups carry <see cref="Header"/> meanwhile, and a client that has a
/// last known view adds the answer to it instead of replacing it, so a registry restart does not empty every route.
/// </summary>
public static class RegistryWarming
{
    public const string Header = "X-Registry-Warming";

    /// <summary>The fresh answer plus the instances of the last known view it does not list.</summary>
    public static IReadOnlyList<ServiceInstance> Merge(IReadOnlyList<ServiceInstance> fresh, IReadOnlyList<ServiceInstance> lastKnown) =>
        [.. fresh, .. lastKnown.Where(known => !fresh.Any(i => i.InstanceId == known.InstanceId))];
}

/// <summary>The registry's answer to a lookup, and whether it is still warming up (<see cref="RegistryWarming"/>).</summary>
public sealed record RegistryLookup(IReadOnlyList<ServiceInstance> Instances, bool Warming);
