using System.Text.RegularExpressions;

namespace Mercato.ServiceDefaults.Resilience;

/// <summary>
/// Checks a policy document against what the pipeline can build (Polly's own limits included), naming each bad field
/// by its JSON path, so a document that is accepted never fails later inside a service.
/// </summary>
public static partial class MeshPolicyValidator
{
    public static Dictionary<string, string[]> Validate(MeshPolicy policy)
    {
        var errors = new Dictionary<string, string[]>();
        void Check(bool ok, string path, string message)
        {
            if (!ok)
            {
                errors[path] = [message];
            }
        }

        if (policy.Gateway?.RateLimit is null || policy.Targets is null)
        {
            errors[policy.Targets is null ? "targets" : "gateway"] = ["Must be an object."];
            return errors;
        }
        var edge = policy.Gateway.RateLimit;
        Check(edge.UserPermitsPerSecond is >= 1 and <= 1_000_000, "gateway.rateLimit.userPermitsPerSecond", "Between 1 and 1000000.");
        Check(edge.UserBurst >= 1 && edge.UserBurst <= 10_000_000, "gateway.rateLimit.userBurst", "Between 1 and 10000000.");
        Check(edge.AnonymousPermitsPerSecond is >= 1 and <= 1_000_000, "gateway.rateLimit.anonymousPermitsPerSecond", "Between 1 and 1000000.");
        Check(edge.AnonymousBurst is >= 1 and <= 10_000_000, "gateway.rateLimit.anonymousBurst", "Between 1 and 10000000.");
        Check(edge.CredentialPermitsPerMinute is >= 1 and <= 60_000_000, "gateway.rateLimit.credentialPermitsPerMinute", "Between 1 and 60000000.");
        Check(edge.CredentialBurst is >= 1 and <= 10_000_000, "gateway.rateLimit.credentialBurst", "Between 1 and 10000000.");

        foreach (var (name, target) in policy.Targets)
        {
            var at = $"targets.{name}";
            if (!ServiceName().IsMatch(name))
            {
                errors[at] = ["A target is a service name: a lowercase DNS label."];
                continue;
            }
            var missing = target is null ? "" : new (string Name, object? Value)[]
            {
                ("retry", target.Retry), ("circuitBreaker", target.CircuitBreaker), ("bulkhead", target.Bulkhead),
                ("rateLimit", target.RateLimit), ("routing", target.Routing), ("routing.weights", target.Routing?.Weights), ("faults", target.Faults),
            }.FirstOrDefault(part => part.Value is null).Name;
            if (target is null || missing is not null)
            {
                errors[missing is null or "" ? at : $"{at}.{missing}"] = ["Must be an object."];
                continue;
            }
            Check(target.TotalTimeoutMs is >= 10 and <= 600_000, $"{at}.totalTimeoutMs", "Between 10 and 600000.");
            Check(target.AttemptTimeoutMs is >= 10 and <= 600_000, $"{at}.attemptTimeoutMs", "Between 10 and 600000.");
            Check(target.AttemptTimeoutMs <= target.TotalTimeoutMs, $"{at}.attemptTimeoutMs", "Must not exceed totalTimeoutMs.");

            var retry = target.Retry;
            Check(retry.MaxRetries is >= 0 and <= 10, $"{at}.retry.maxRetries", "Between 0 and 10.");
            Check(retry.BaseDelayMs is >= 0 and <= 60_000, $"{at}.retry.baseDelayMs", "Between 0 and 60000.");
            Check(retry.MaxDelayMs >= retry.BaseDelayMs && retry.MaxDelayMs <= 600_000, $"{at}.retry.maxDelayMs", "At least baseDelayMs, at most 600000.");

            var breaker = target.CircuitBreaker;
            Check(breaker.FailureRatio is > 0 and <= 1, $"{at}.circuitBreaker.failureRatio", "Greater than 0, at most 1.");
            Check(breaker.MinimumThroughput is >= 2 and <= 100_000, $"{at}.circuitBreaker.minimumThroughput", "Between 2 and 100000.");
            Check(breaker.SamplingDurationMs is >= 500 and <= 3_600_000, $"{at}.circuitBreaker.samplingDurationMs", "Between 500 and 3600000.");
            Check(breaker.BreakDurationMs is >= 500 and <= 3_600_000, $"{at}.circuitBreaker.breakDurationMs", "Between 500 and 3600000.");

            Check(target.Bulkhead.MaxConcurrency is >= 1 and <= 100_000, $"{at}.bulkhead.maxConcurrency", "Between 1 and 100000.");
            Check(target.Bulkhead.QueueLimit is >= 0 and <= 100_000, $"{at}.bulkhead.queueLimit", "Between 0 and 100000.");
            Check(target.RateLimit.PermitsPerSecond is >= 0 and <= 1_000_000, $"{at}.rateLimit.permitsPerSecond", "Between 0 (no limit) and 1000000.");

            var routing = target.Routing!;
            Check(routing.Weights.All(w => w.Value is >= 0 and <= 10_000 && !string.IsNullOrWhiteSpace(w.Key)),
                $"{at}.routing.weights", "Version names must not be empty; weights between 0 and 10000.");
            Check(routing.Weights.Count == 0 || routing.Weights.Values.Any(w => w > 0), $"{at}.routing.weights", "At least one weight must be above 0.");
            Check(HeaderName().IsMatch(routing.CanaryHeader ?? ""), $"{at}.routing.canaryHeader", "Must be an HTTP header name.");
            Check(routing.CanaryVersion is null || !string.IsNullOrWhiteSpace(routing.CanaryVersion), $"{at}.routing.canaryVersion", "Must not be empty.");

            var faults = target.Faults;
            Check(IsRate(faults.LatencyRate), $"{at}.faults.latencyRate", "Between 0 and 1.");
            Check(faults.LatencyMs is >= 0 and <= 60_000, $"{at}.faults.latencyMs", "Between 0 and 60000.");
            Check(IsRate(faults.ErrorRate), $"{at}.faults.errorRate", "Between 0 and 1.");
            Check(faults.ErrorStatus is >= 400 and <= 599, $"{at}.faults.errorStatus", "An HTTP error status, 400 to 599.");
            Check(IsRate(faults.AbortRate), $"{at}.faults.abortRate", "Between 0 and 1.");
            Check(IsRate(faults.MessageErrorRate), $"{at}.faults.messageErrorRate", "Between 0 and 1.");
            Check(IsRate(faults.MessageLatencyRate), $"{at}.faults.messageLatencyRate", "Between 0 and 1.");
            Check(faults.MessageLatencyMs is >= 0 and <= 60_000, $"{at}.faults.messageLatencyMs", "Between 0 and 60000.");
        }
        return errors;
    }

    private static bool IsRate(double value) => value is >= 0 and <= 1;

    [GeneratedRegex("^[a-z][a-z0-9-]{0,62}\\z")]
    private static partial Regex ServiceName();

    [GeneratedRegex("^[A-Za-z0-9!#$%&'*+.^_`|~-]+\\z")]
    private static partial Regex HeaderName();
}
