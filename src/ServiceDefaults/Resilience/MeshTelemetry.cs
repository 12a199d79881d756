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
    private readonly ConcurrentDictionary<string, CircuitState> _breakers = new(StringComparer.Ordinal);
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
            _breakers[target] = CircuitState.Closed;
        }
        _meter.CreateObservableGauge("circuit_breaker_state", () => _breakers.Select(b => new Measurement<int>(
            StateValue(b.Value), new("service", _service), new("target", b.Key))),
            description: "Circuit breaker state per caller and target: 0 closed, 1 open, 2 half-open.");
        _meter.CreateObservableGauge("circuit_breaker_open", () => _breakers.Select(b => new Measurement<int>(
            b.Value is CircuitState.Open or CircuitState.Isolated ? 1 : 0, new("service", _service), new("target", b.Key))),
            description: "1 while the breaker from this service to the target is open.");
        _retries = _meter.CreateCounter<long>("resilience_retries", description: "Retries of calls to another service.");
        _rejections = _meter.CreateCounter<long>("resilience_rejections", description: "Calls refused by the rate limiter or the bulkhead.");
        _fallbacks = _meter.CreateCounter<long>("fallbacks_served", description: "Responses that served a fallback instead of a failed part.");
        _retryDelay = _meter.CreateHistogram<double>("resilience_retry_delay", unit: "s", description: "Backoff before each retry.");
    }

    public IReadOnlyDictionary<string, CircuitState> Breakers => _breakers;

    public void BreakerState(string target, CircuitState state) => _breakers[target] = state;

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
