using System.Collections.Concurrent;
using System.Diagnostics;
using HdrHistogram;

namespace Mercato.LoadGen;

/// <summary>Monotonic time in Stopwatch ticks, and conversions.</summary>
public static class Clock
{
    public static long Now => Stopwatch.GetTimestamp();

    public static long Ticks(TimeSpan span) => (long)(span.TotalSeconds * Stopwatch.Frequency);

    public static long Micros(long ticks) => Math.Max(1, ticks * 1_000_000 / Stopwatch.Frequency);

    public static double Seconds(long ticks) => (double)ticks / Stopwatch.Frequency;
}

/// <summary>
/// One latency series (e.g. "place order"), in microseconds, HdrHistogram with 3 significant digits up to one hour.
/// Writers record from any thread into a <see cref="Recorder"/>; one reader (the progress loop, then the report)
/// takes interval histograms and adds them to the cumulative one, so "p99 so far" and "p99 last second" cost nothing
/// to the writers.
/// </summary>
public sealed class LatencyMetric(string name)
{
    private const long Highest = 3_600_000_000;
    private readonly Recorder _recorder = HistogramFactory.With64BitBucketSize()
        .WithValuesFrom(1).WithValuesUpTo(Highest).WithPrecisionOf(3)
        .WithThreadSafeWrites().WithThreadSafeReads().Create();
    private readonly object _readLock = new();
    private HistogramBase? _interval;
    private long _firstStart = long.MaxValue;
    private long _lastEnd;

    public string Name { get; } = name;

    /// <summary>Every sample so far (after the last <see cref="Collect"/>).</summary>
    public HistogramBase Total { get; } = new LongHistogram(1, Highest, 3);

    /// <summary>The samples of the last <see cref="Collect"/> interval.</summary>
    public HistogramBase? LastInterval { get; private set; }

    /// <summary>First intended start and last completion of a recorded sample, for throughput.</summary>
    public (long First, long Last) Span => (Interlocked.Read(ref _firstStart), Interlocked.Read(ref _lastEnd));

    public void Record(long intendedStart, long end)
    {
        _recorder.RecordValue(Math.Min(Highest, Clock.Micros(end - intendedStart)));
        InterlockedMin(ref _firstStart, intendedStart);
        InterlockedMax(ref _lastEnd, end);
    }

    /// <summary>Moves what was recorded since the last call into <see cref="Total"/>; single reader.</summary>
    public void Collect()
    {
        lock (_readLock)
        {
            _interval = _recorder.GetIntervalHistogram(_interval);
            Total.Add(_interval);
            LastInterval = _interval;
        }
    }

    private static void InterlockedMin(ref long target, long value)
    {
        var current = Interlocked.Read(ref target);
        while (value < current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }
            current = seen;
        }
    }

    private static void InterlockedMax(ref long target, long value)
    {
        var current = Interlocked.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }
            current = seen;
        }
    }
}

/// <summary>Errors by kind ("http 503", "timeout", "connection", ...), for the measured window and the warm-up apart.</summary>
public sealed class ErrorCounter
{
    private readonly ConcurrentDictionary<string, long> _measured = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _warmup = new(StringComparer.Ordinal);
    private long _total;

    public long Total => Interlocked.Read(ref _total);

    public void Add(string kind, bool measured)
    {
        (measured ? _measured : _warmup).AddOrUpdate(kind, 1, (_, n) => n + 1);
        Interlocked.Increment(ref _total);
    }

    public IReadOnlyDictionary<string, long> Measured => _measured.OrderByDescending(e => e.Value).ToDictionary(e => e.Key, e => e.Value);

    public IReadOnlyDictionary<string, long> Warmup => _warmup.OrderByDescending(e => e.Value).ToDictionary(e => e.Key, e => e.Value);

    public long MeasuredTotal => _measured.Values.Sum();
}

/// <summary>All series of one run, created on first use; the order of first use is the order of the report.</summary>
public sealed class RunMetrics
{
    private readonly ConcurrentDictionary<string, LatencyMetric> _metrics = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _order = new();
    private long _completed;
    private long _started;

    public ErrorCounter Errors { get; } = new();

    /// <summary>Every sample taken during the warm-up, all kinds together; shown apart, never in the results.</summary>
    public LatencyMetric Warmup { get; } = new("warm-up");

    /// <summary>A sample of the series <paramref name="name"/>, or of the warm-up series before the measured window.</summary>
    public void Record(string name, bool measured, long intendedStart, long end) =>
        (measured ? this[name] : Warmup).Record(intendedStart, end);

    /// <summary>Operations started and finished (warm-up included), for the live line.</summary>
    public long Started => Interlocked.Read(ref _started);

    public long Completed => Interlocked.Read(ref _completed);

    public long InFlight => Started - Completed;

    public void OperationStarted() => Interlocked.Increment(ref _started);

    public void OperationCompleted() => Interlocked.Increment(ref _completed);

    public LatencyMetric this[string name] => _metrics.GetOrAdd(name, n =>
    {
        _order.Enqueue(n);
        return new LatencyMetric(n);
    });

    /// <summary>The series in order of first use; a name queued a moment before its series is stored is left for the next call.</summary>
    public IReadOnlyList<LatencyMetric> All =>
        [.. _order.Distinct().Select(n => _metrics.GetValueOrDefault(n)).OfType<LatencyMetric>()];

    public void CollectAll()
    {
        foreach (var metric in All)
        {
            metric.Collect();
        }
        Warmup.Collect();
    }
}
