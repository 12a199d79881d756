using System.Threading.RateLimiting;
using Mercato.ServiceDefaults.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.CircuitBreaker;
using Polly.RateLimiting;

namespace Mercato.ServiceDefaults.Resilience;

/// <summary>
/// The in-process sidecar: every HttpClient gets one Polly pipeline per target service (the request's logical host,
/// before discovery resolves it), built from that target's entry in the policy document and rebuilt when it changes.
/// Outermost first: total timeout (or the caller's shorter <see cref="Budget"/>) → retry (exponential backoff, full
/// jitter, idempotent methods only) → circuit breaker → per-attempt timeout → bulkhead → rate limit.
/// </summary>
public static class MeshPipeline
{
    public const string Name = "mesh";

    /// <summary>
    /// A caller's own time limit for one call, retries included (<see cref="WithBudget"/>): it shortens the target's total
    /// timeout. The pipeline enforces it rather than the caller, so that a target too slow for its callers counts as
    /// failing and its breaker opens; a call cancelled from outside never counts.
    /// </summary>
    public static readonly HttpRequestOptionsKey<TimeSpan> Budget = new("Mercato.CallBudget");

    /// <summary>
    /// The target a call is for, when its address does not say it: a call sent to one instance's own address (the
    /// gateway reads each service's OpenAPI document that way) would otherwise share one pipeline, and one breaker, with
    /// every service on that host.
    /// </summary>
    public static readonly HttpRequestOptionsKey<string> Target = new("Mercato.Target");

    /// <summary>Runs this call through <paramref name="target"/>'s pipeline (see <see cref="Target"/>).</summary>
    public static HttpRequestMessage ForTarget(this HttpRequestMessage request, string target)
    {
        request.Options.Set(Target, target);
        return request;
    }

    /// <summary>The token the call came with, before the total timeout's own: what tells a caller's abort from a timeout.</summary>
    private static readonly ResiliencePropertyKey<CancellationToken> CallerCancellation = new("Mercato.CallerCancellation");

    /// <summary>Gives this call a time limit that the target's breaker counts (see <see cref="Budget"/>).</summary>
    public static HttpRequestMessage WithBudget(this HttpRequestMessage request, TimeSpan budget)
    {
        request.Options.Set(Budget, budget);
        return request;
    }

    public static void AddMeshPipeline(this IHttpClientBuilder http) =>
        http.AddResilienceHandler(Name, static (pipeline, context) =>
            {
                var target = context.InstanceName;
                context.EnableReloads<TargetPolicy>(target);
                Build(pipeline, target, context.GetOptions<TargetPolicy>(target), context.ServiceProvider, context.OnPipelineDisposed);
            })
            .SelectPipelineBy(_ => request => request.Options.TryGetValue(Target, out var target) ? target : request.RequestUri?.Host ?? "unknown");

    public static void Build(
        ResiliencePipelineBuilder<HttpResponseMessage> pipeline, string target, TargetPolicy policy, IServiceProvider services, Action<Action> onDisposed)
    {
        var telemetry = services.GetRequiredService<MeshTelemetry>();
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("Mercato.Resilience");

        var totalTimeout = TimeSpan.FromMilliseconds(policy.TotalTimeoutMs);
        pipeline.AddTimeout(new HttpTimeoutStrategyOptions
        {
            Name = "total-timeout",
            Timeout = totalTimeout,
            // Runs once per call, before the timeout links its own token.
            TimeoutGenerator = args =>
            {
                args.Context.Properties.Set(CallerCancellation, args.Context.CancellationToken);
                return ValueTask.FromResult(args.Context.GetRequestMessage()?.Options.TryGetValue(Budget, out var budget) == true && budget < totalTimeout
                    ? budget
                    : totalTimeout);
            },
        });

        if (policy.Retry.MaxRetries > 0)
        {
            var retry = new HttpRetryStrategyOptions
            {
                MaxRetryAttempts = policy.Retry.MaxRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(policy.Retry.BaseDelayMs),
                MaxDelay = TimeSpan.FromMilliseconds(policy.Retry.MaxDelayMs),
                OnRetry = args =>
                {
                    telemetry.Retried(target, args.RetryDelay);
                    return default;
                },
            };
            // A POST that may have reached the target is not repeated blindly: it could charge twice. One whose connection
            // was refused never reached it, and is tried again (discovery picks the next instance: one that stopped a
            // moment ago may still be in the caller's cached list).
            retry.DisableForUnsafeHttpMethods();
            var safeMethodsOnly = retry.ShouldHandle;
            retry.ShouldHandle = args => Downstream.NoConnection(args.Outcome.Exception) ? ValueTask.FromResult(true) : safeMethodsOnly(args);
            pipeline.AddRetry(retry);
        }

        // This pipeline's own breaker, reported until the pipeline is disposed (a policy change builds a new one).
        var reported = telemetry.TrackBreaker(target);
        onDisposed(reported.Dispose);
        var breaker = new HttpCircuitBreakerStrategyOptions
        {
            FailureRatio = policy.CircuitBreaker.FailureRatio,
            MinimumThroughput = policy.CircuitBreaker.MinimumThroughput,
            SamplingDuration = TimeSpan.FromMilliseconds(policy.CircuitBreaker.SamplingDurationMs),
            BreakDuration = TimeSpan.FromMilliseconds(policy.CircuitBreaker.BreakDurationMs),
            StateProvider = reported.Provider,
            OnOpened = args =>
            {
                logger.LogWarning("Circuit to {Target} opened for {BreakDuration}: {Cause}", target, args.BreakDuration,
                    args.Outcome.Exception?.Message ?? $"HTTP {(int?)args.Outcome.Result?.StatusCode}");
                return default;
            },
            OnHalfOpened = _ =>
            {
                logger.LogInformation("Circuit to {Target} half-open: the next call is a probe", target);
                return default;
            },
            OnClosed = _ =>
            {
                logger.LogInformation("Circuit to {Target} closed", target);
                return default;
            },
        };
        // An attempt cut short by the total timeout or a caller's budget ends cancelled, which the default predicate
        // ignores (it cannot be told from the caller giving up); the token the call came with can tell them apart.
        var transient = breaker.ShouldHandle;
        breaker.ShouldHandle = args => args.Outcome.Exception is OperationCanceledException && CutByPipeline(args.Context)
            ? ValueTask.FromResult(true)
            : transient(args);
        pipeline.AddCircuitBreaker(breaker);

        pipeline.AddTimeout(new HttpTimeoutStrategyOptions { Name = "attempt-timeout", Timeout = TimeSpan.FromMilliseconds(policy.AttemptTimeoutMs) });

        var bulkhead = new ConcurrencyLimiter(new ConcurrencyLimiterOptions
        {
            PermitLimit = policy.Bulkhead.MaxConcurrency,
            QueueLimit = policy.Bulkhead.QueueLimit,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        });
        AddLimiter(pipeline, "bulkhead", bulkhead, target, telemetry, onDisposed);

        if (policy.RateLimit.PermitsPerSecond > 0)
        {
            AddLimiter(pipeline, "rate-limit", new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
            {
                TokenLimit = policy.RateLimit.PermitsPerSecond,
                TokensPerPeriod = policy.RateLimit.PermitsPerSecond,
                ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                QueueLimit = 0,
                AutoReplenishment = true,
            }), target, telemetry, onDisposed);
        }
    }

    private static bool CutByPipeline(ResilienceContext context) =>
        context.CancellationToken.IsCancellationRequested
        && context.Properties.TryGetValue(CallerCancellation, out var caller) && !caller.IsCancellationRequested;

    /// <summary>A System.Threading.RateLimiting limiter as a pipeline step; refusals are counted by name.</summary>
    private static void AddLimiter(
        ResiliencePipelineBuilder<HttpResponseMessage> pipeline, string name, RateLimiter limiter, string target, MeshTelemetry telemetry, Action<Action> onDisposed)
    {
        onDisposed(limiter.Dispose);
        pipeline.AddRateLimiter(new RateLimiterStrategyOptions
        {
            Name = name,
            RateLimiter = args => limiter.AcquireAsync(1, args.Context.CancellationToken),
            OnRejected = _ =>
            {
                telemetry.Rejected(target, name);
                return default;
            },
        });
    }
}
