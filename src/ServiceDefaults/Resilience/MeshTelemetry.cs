using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Polly.CircuitBreaker;

namespace Mercato.ServiceDefaults.Resilience;

/// <summary>
/// What the sidecar pipeline does, as metrics: breaker state per target, retries, rejections by the rate limiter and the
/// bulkhead, and fallbacks served. Labels carry this service's name and the target.
/// </summary>
public sealed class MeshTelemetry : IDisposable
{
    public const string MeterName = "Mercato.Resilience";

    private readonly Meter _meter = new(MeterName);
    private readonly string _service;
    // Targets known from the configuration: they show as closed breakers before the first call builds their pipeline.
    private readonly ConcurrentDictionary<string, byte> _knownTargets = new(StringComparer.Ordinal);
    // Every named client builds its own breaker per target, and a policy change builds them anew: each is tracked alone,
    // and a target reports its worst, so a client that starts using a target cannot clear another's open breaker.
    private readonly ConcurrentDictionary<Breaker, byte> _breakers = new();
    private readonly Counter<long> _retries;
    private readonly Counter<long> _rejections;
    private readonly Counter<long> _fallbacks;
    private readonly Histogram<double> _retryDelay;

    public MeshTelemetry(PolicyStore policies, IConfiguration? configuration = null)
    {
        _service = policies.Self;
        // Known targets show as closed breakers from the start, before the first call builds their pipeline.
        foreach (var target in configuration is null ? [] : Telemetry.DependencyReport.Of(configuration, _service))
        {
            _knownTargets[target] = 0;
        }
        _meter.CreateObservableGauge("circuit_breaker_state", () => Breakers.Select(b => new Measurement<int>(
            StateValue(b.Value), new("service", _service), new("target", b.Key))),
            description: "Circuit breaker state per caller and target: 0 closed, 1 open, 2 half-open (the worst of the caller's breakers to it).");
        _meter.CreateObservableGauge("circuit_breaker_open", () => Breakers.Select(b => new Measurement<int>(
            IsOpen(b.Value) ? 1 : 0, new("service", _service), new("target", b.Key))),
            description: "1 while a breaker from this service to the target is open.");
        _retries = _meter.CreateCounter<long>("resilience_retries", description: "Retries of calls to another service.");
        _rejections = _meter.CreateCounter<long>("resilience_rejections", description: "Calls refused by the rate limiter or the bulkhead.");
        _fallbacks = _meter.CreateCounter<long>("fallbacks_served", description: "Responses that served a fallback instead of a failed part.");
        _retryDelay = _meter.CreateHistogram<double>("resilience_retry_delay", unit: "s", description: "Backoff before each retry.",
            tags: null, advice: Telemetry.MetricBuckets.Seconds);
    }

    /// <summary>Each target's breaker state: the worst of the breakers this service has to it.</summary>
    public IReadOnlyDictionary<string, CircuitState> Breakers
    {
        get
        {
            var states = _knownTargets.Keys.ToDictionary(t => t, _ => CircuitState.Closed, StringComparer.Ordinal);
            foreach (var breaker in _breakers.Keys)
            {
                var state = breaker.State;
                if (!states.TryGetValue(breaker.Target, out var worst) || Severity(state) > Severity(worst))
                {
                    states[breaker.Target] = state;
                }
            }
            return states;
        }
    }

    /// <summary>
    /// Tracks a new breaker to <paramref name="target"/>: give its options <see cref="Breaker.Provider"/>, and dispose it
    /// when its pipeline is disposed.
    /// </summary>
    public Breaker TrackBreaker(string target)
    {
        var breaker = new Breaker(target, this);
        _breakers[breaker] = 0;
        return breaker;
    }

    /// <summary>One circuit breaker, whose state Polly reports through <see cref="Provider"/> (closed until it is built).</summary>
    public sealed class Breaker(string target, MeshTelemetry telemetry) : IDisposable
    {
        public string Target => target;

        public CircuitBreakerStateProvider Provider { get; } = new();

        public CircuitState State => Provider.CircuitState;

        public void Dispose() => telemetry._breakers.TryRemove(this, out _);
    }

    private static bool IsOpen(CircuitState state) => state is CircuitState.Open or CircuitState.Isolated;

    private static int Severity(CircuitState state) => IsOpen(state) ? 2 : state == CircuitState.HalfOpen ? 1 : 0;

    public void Retried(string target, TimeSpan delay)
    {
        _retries.Add(1, new("service", _service), new("target", target));
        _retryDelay.Record(delay.TotalSeconds, new("service", _service), new("target", target));
    }

    public void Rejected(string target, string by) =>
        _rejections.Add(1, new("service", _service), new("target", target), new("reason", by));

    public void FallbackServed(string part, string fallback) =>
        _fallbacks.Add(1, new("service", _service), new("part", part), new("fallback", fallback));

    public static int StateValue(CircuitState state) => state switch
    {
        CircuitState.Open or CircuitState.Isolated => 1,
        CircuitState.HalfOpen => 2,
        _ => 0,
    };

    public void Dispose() => _meter.Dispose();
}
