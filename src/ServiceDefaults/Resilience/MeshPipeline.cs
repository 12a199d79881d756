using System.Threading.RateLimiting;
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
/// Outermost first: total timeout → retry (exponential backoff, full jitter, idempotent methods only) → circuit breaker
/// → per-attempt timeout → bulkhead → rate limit.
/// </summary>
public static class MeshPipeline
{
    public const string Name = "mesh";

    public static void AddMeshPipeline(this IHttpClientBuilder http) =>
        http.AddResilienceHandler(Name, static (pipeline, context) =>
            {
                var target = context.InstanceName;
                context.EnableReloads<TargetPolicy>(target);
                Build(pipeline, target, context.GetOptions<TargetPolicy>(target), context.ServiceProvider, context.OnPipelineDisposed);
            })
            .SelectPipelineBy(_ => request => request.RequestUri?.Host ?? "unknown");

    public static void Build(
        ResiliencePipelineBuilder<HttpResponseMessage> pipeline, string target, TargetPolicy policy, IServiceProvider services, Action<Action> onDisposed)
    {
        var telemetry = services.GetRequiredService<MeshTelemetry>();
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("Mercato.Resilience");

        pipeline.AddTimeout(new HttpTimeoutStrategyOptions { Name = "total-timeout", Timeout = TimeSpan.FromMilliseconds(policy.TotalTimeoutMs) });

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
            // A POST that may have reached the target is not repeated blindly: it could charge twice.
            retry.DisableForUnsafeHttpMethods();
            pipeline.AddRetry(retry);
        }

        telemetry.BreakerState(target, CircuitState.Closed);
        pipeline.AddCircuitBreaker(new HttpCircuitBreakerStrategyOptions
        {
            FailureRatio = policy.CircuitBreaker.FailureRatio,
            MinimumThroughput = policy.CircuitBreaker.MinimumThroughput,
            SamplingDuration = TimeSpan.FromMilliseconds(policy.CircuitBreaker.SamplingDurationMs),
            BreakDuration = TimeSpan.FromMilliseconds(policy.CircuitBreaker.BreakDurationMs),
            OnOpened = args =>
            {
                telemetry.BreakerState(target, CircuitState.Open);
                logger.LogWarning("Circuit to {Target} opened for {BreakDuration}: {Cause}", target, args.BreakDuration,
                    args.Outcome.Exception?.Message ?? $"HTTP {(int?)args.Outcome.Result?.StatusCode}");
                return default;
            },
            OnHalfOpened = _ =>
            {
                telemetry.BreakerState(target, CircuitState.HalfOpen);
                logger.LogInformation("Circuit to {Target} half-open: the next call is a probe", target);
                return default;
            },
            OnClosed = _ =>
            {
                telemetry.BreakerState(target, CircuitState.Closed);
                logger.LogInformation("Circuit to {Target} closed", target);
                return default;
            },
        });

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
