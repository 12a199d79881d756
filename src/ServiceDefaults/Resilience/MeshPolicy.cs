using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mercato.ServiceDefaults.Resilience;

/// <summary>
/// The control plane's one policy document: for each target service, how callers treat it (the sidecar pipeline and
/// routing rules) and which faults it injects into what it receives; plus the gateway's rate limits. Held by the
/// registry, pulled by every instance. Anything the document leaves out takes the defaults written here.
/// </summary>
public sealed record MeshPolicy
{
    /// <summary>Assigned by the registry on every accepted change; 0 is the built-in defaults.</summary>
    public long Version { get; init; }

    public GatewayPolicy Gateway { get; init; } = new();

    public Dictionary<string, TargetPolicy> Targets { get; init; } = [];

    public TargetPolicy For(string target) => Targets.GetValueOrDefault(target) ?? TargetPolicy.Default;

    /// <summary>
    /// Web (camelCase) JSON that refuses unknown members, so a misspelt setting is reported instead of silently
    /// falling back to its default.
    /// </summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        WriteIndented = false,
    };

    /// <summary>
    /// What instances read the registry's document with: members they do not know are skipped, so during a rolling
    /// upgrade an instance of the older build still takes the document a newer registry serves. The registry has
    /// already validated it.
    /// </summary>
    public static readonly JsonSerializerOptions TolerantJson = new(JsonSerializerDefaults.Web);
}

public sealed record GatewayPolicy
{
    public GatewayRateLimit RateLimit { get; init; } = new();
}

/// <summary>
/// Token buckets at the edge: one per signed-in user, one per client IP for anonymous calls, and one more per client IP
/// for the calls that check a password (sign-in and registration).
/// </summary>
public sealed record GatewayRateLimit
{
    public int UserPermitsPerSecond { get; init; } = 500;

    public int UserBurst { get; init; } = 1_000;

    public int AnonymousPermitsPerSecond { get; init; } = 200;

    public int AnonymousBurst { get; init; } = 400;

    /// <summary>
    /// Sign-ins and registrations per client IP and minute, on top of the anonymous bucket: each one costs identity a
    /// deliberately slow password hash (PBKDF2), so at the anonymous rate one client could keep its cores busy, and
    /// guess passwords at that rate.
    /// </summary>
    public int CredentialPermitsPerMinute { get; init; } = 120;

    public int CredentialBurst { get; init; } = 30;
}

/// <summary>Everything about one target service.</summary>
public sealed record TargetPolicy
{
    public static readonly TargetPolicy Default = new();

    /// <summary>Budget of one call including its retries.</summary>
    public int TotalTimeoutMs { get; init; } = 15_000;

    public RetryPolicy Retry { get; init; } = new();

    public BreakerPolicy CircuitBreaker { get; init; } = new();

    public int AttemptTimeoutMs { get; init; } = 5_000;

    public BulkheadPolicy Bulkhead { get; init; } = new();

    public ClientRateLimit RateLimit { get; init; } = new();

    public RoutingPolicy Routing { get; init; } = new();

    /// <summary>Chaos the target injects into what it receives. Callers ignore this part.</summary>
    public FaultPolicy Faults { get; init; } = new();

    /// <summary>What callers' pipelines depend on: a change to anything else (faults) must not reset their breakers.</summary>
    public string CallerSignature() => JsonSerializer.Serialize(this with { Faults = FaultPolicy.None }, MeshPolicy.Json);
}

/// <summary>
/// Exponential backoff with full jitter, for transient failures of idempotent requests, and for any request whose
/// connection was refused (nothing was sent).
/// </summary>
public sealed record RetryPolicy
{
    /// <summary>Retries after the first attempt; 0 turns retrying off.</summary>
    public int MaxRetries { get; init; } = 2;

    public int BaseDelayMs { get; init; } = 200;

    public int MaxDelayMs { get; init; } = 5_000;
}

/// <summary>Polly's failure-ratio breaker: closed → open after the ratio is reached over the window → half-open probe.</summary>
public sealed record BreakerPolicy
{
    public double FailureRatio { get; init; } = 0.5;

    public int MinimumThroughput { get; init; } = 10;

    public int SamplingDurationMs { get; init; } = 30_000;

    public int BreakDurationMs { get; init; } = 5_000;
}

/// <summary>At most this many calls in flight to the target, and this many waiting; the rest are rejected.</summary>
public sealed record BulkheadPolicy
{
    public int MaxConcurrency { get; init; } = 100;

    public int QueueLimit { get; init; } = 200;
}

/// <summary>Calls per second a caller may send the target; 0 for no limit.</summary>
public sealed record ClientRateLimit
{
    public int PermitsPerSecond { get; init; }
}

/// <summary>
/// Which version of the target gets a call: a header naming the canary wins, otherwise the weights decide (a version
/// with no instance is skipped). No weights: any instance.
/// </summary>
public sealed record RoutingPolicy
{
    public Dictionary<string, int> Weights { get; init; } = [];

    public string CanaryHeader { get; init; } = "X-Canary";

    public string? CanaryVersion { get; init; }
}

/// <summary>Chaos for inbound HTTP requests (latency, error answers, aborted connections) and message handlers.</summary>
public sealed record FaultPolicy
{
    public static readonly FaultPolicy None = new();

    public int LatencyMs { get; init; }

    public double LatencyRate { get; init; }

    public double ErrorRate { get; init; }

    public int ErrorStatus { get; init; } = 503;

    public double AbortRate { get; init; }

    public double MessageErrorRate { get; init; }

    public int MessageLatencyMs { get; init; }

    public double MessageLatencyRate { get; init; }

    [JsonIgnore]
    public bool AffectsRequests => (LatencyRate > 0 && LatencyMs > 0) || ErrorRate > 0 || AbortRate > 0;

    [JsonIgnore]
    public bool AffectsMessages => MessageErrorRate > 0 || (MessageLatencyRate > 0 && MessageLatencyMs > 0);
}
