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
