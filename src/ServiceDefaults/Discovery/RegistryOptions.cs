using System.ComponentModel.DataAnnotations;
using Mercato.ServiceDefaults.Configuration;

namespace Mercato.ServiceDefaults.Discovery;

/// <summary>Settings of the registry client (section "Registry").</summary>
public sealed class RegistryOptions
{
    public const string SectionName = "Registry";

    /// <summary>Base address of the registry. When empty the instance neither registers nor discovers through it.</summary>
    public string? Url { get; set; }

    /// <summary>
    /// Register with the registry and resolve other services through it. Off on Kubernetes: cluster DNS resolves
    /// http://{service} and Services spread the load, while the registry still serves the policy document.
    /// </summary>
    public bool Discovery { get; set; } = true;

    /// <summary>Logical name other services use to reach this one (http://{ServiceName}).</summary>
    public string ServiceName { get; set; } = "";

    public string InstanceId { get; set; } = "";

    /// <summary>
    /// The shared secret an instance shows (header <see cref="RegistrationKeyHeader"/>) to register, renew or leave. A
    /// registry that has one refuses those calls without it, so no other process can register as "identity" and hand
    /// out its own signing keys. Unset, anyone who reaches the registry may register. The AppHost makes one per run.
    /// </summary>
    public string? RegistrationKey { get; set; }

    public const string RegistrationKeyHeader = "X-Registry-Key";

    public string Version { get; set; } = "1.0.0";

    /// <summary>Address to advertise; by default the first address Kestrel actually bound.</summary>
    public string? AdvertisedAddress { get; set; }

    [Range(typeof(TimeSpan), SettingBounds.MinPeriod, SettingBounds.MaxPeriod, ErrorMessage = "Registry:HeartbeatInterval must be from {1} to {2}.")]
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a client trusts its cached view of a service's instances.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", SettingBounds.MaxPeriod, ErrorMessage = "Registry:CacheTtl must be from {1} to {2}.")]
    public TimeSpan CacheTtl { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// On a graceful stop, how long the instance keeps serving after it left the registry: long enough for the gateway,
    /// which reads the registry every 2 s, to stop sending it requests before its server stops taking them.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:05:00", ErrorMessage = "Registry:DeregistrationDelay must be from {1} to {2}.")]
    public TimeSpan DeregistrationDelay { get; set; } = TimeSpan.FromSeconds(3);
}
