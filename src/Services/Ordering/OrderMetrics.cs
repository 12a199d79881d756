using System.Diagnostics.Metrics;
using Mercato.Ordering.Domain;

namespace Mercato.Ordering;

/// <summary>
/// Saga metrics, read off the events as they commit, so both saga styles count the same way: sagas started, confirmed,
/// cancelled, compensations requested (refunds, stock releases), and the time from submission to the end; and the order
/// reads held for <c>Prefer: wait</c>.
/// </summary>
public sealed class OrderMetrics : IDisposable
{
    public const string MeterName = "Mercato.Ordering";

    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _started;
    private readonly Counter<long> _confirmed;
    private readonly Counter<long> _cancelled;
    private readonly Counter<long> _compensations;
    private readonly Histogram<double> _duration;

    public OrderMetrics(Data.OrderChanges changes)
    {
        _meter.CreateObservableGauge("ordering_held_reads", () => changes.Held,
            description: "Order reads held for Prefer: wait at this moment (bounded by Ordering:HeldReads).");
        _started = _meter.CreateCounter<long>("saga_started", description: "Order sagas started.");
        _confirmed = _meter.CreateCounter<long>("saga_confirmed", description: "Orders confirmed.");
        _cancelled = _meter.CreateCounter<long>("saga_cancelled", description: "Orders cancelled (declined, out of stock, timed out).");
        _compensations = _meter.CreateCounter<long>("saga_compensations", description: "Compensating actions requested.");
        _duration = _meter.CreateHistogram<double>("saga_duration", unit: "s", description: "From submission to confirmation or cancellation.",
            tags: null, advice: Mercato.ServiceDefaults.Telemetry.MetricBuckets.Seconds);
    }

    public void Appended(IEnumerable<object> events, DateTimeOffset submittedAt)
    {
        foreach (var @event in events)
        {
            switch (@event)
            {
                case OrderEvent.Submitted:
                    _started.Add(1);
                    break;
                case OrderEvent.Confirmed confirmed:
                    _confirmed.Add(1);
                    _duration.Record((confirmed.At - submittedAt).TotalSeconds, new KeyValuePair<string, object?>("outcome", "confirmed"));
                    break;
                case OrderEvent.Cancelled cancelled:
                    _cancelled.Add(1);
                    _duration.Record((cancelled.At - submittedAt).TotalSeconds, new KeyValuePair<string, object?>("outcome", "cancelled"));
                    break;
                case OrderEvent.RefundRequested:
                    _compensations.Add(1, new KeyValuePair<string, object?>("action", "refund"));
                    break;
                case OrderEvent.StockReleaseRequested:
                    _compensations.Add(1, new KeyValuePair<string, object?>("action", "release-stock"));
                    break;
            }
        }
    }

    public void Dispose() => _meter.Dispose();
}
