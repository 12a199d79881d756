using System.Diagnostics;
using System.Globalization;

namespace Mercato.LoadGen;

/// <summary>The run's time line, in Stopwatch ticks: warm-up from Start, the measured window from MeasureStart to End.</summary>
public sealed record Timeline(long Start, long MeasureStart, long End)
{
    public static Timeline From(Options options, long start) =>
        new(start, start + Clock.Ticks(options.Warmup), start + Clock.Ticks(options.Warmup + options.Duration));
}

/// <summary>Starts operations in open loop (constant arrival rate) or closed loop (fixed workers).</summary>
public sealed class Engine(Options options, Workload workload, RunMetrics metrics)
{
    /// <summary>
    /// The series of how late the generator itself started each operation after its due time (the dispatcher's sleep
    /// granularity, a busy thread pool, the generator's GC): part of every latency in the report, charged to nobody
    /// else, so it is shown on its own.
    /// </summary>
    public const string StartLag = "generator: start lag";

    /// <summary>When the last operation was started (for the offered rate actually achieved).</summary>
    public long LastScheduled { get; private set; }

    /// <summary>Operations started inside the measured window.</summary>
    public long MeasuredStarted => Interlocked.Read(ref _measuredStarted);

    private long _measuredStarted;

    public Task RunAsync(Timeline timeline, CancellationToken ct) =>
        options.Mode == LoopMode.Open ? RunOpenAsync(timeline, ct) : RunClosedAsync(timeline, ct);

    /// <summary>
    /// Operation i is due at Start + i / rate, whatever happened to the ones before it (wrk2's model). A dedicated
    /// thread wakes about every millisecond and starts every operation that is due; each one's latency counts from
    /// its due time, so a late start (a busy machine, a stalled server) shows as latency instead of hiding it.
    /// </summary>
    private Task RunOpenAsync(Timeline timeline, CancellationToken ct)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                var rng = new Random(options.Seed);
                var perOperation = Stopwatch.Frequency / options.Rate;
                for (long i = 0; !ct.IsCancellationRequested; i++)
                {
                    var due = timeline.Start + (long)(i * perOperation);
                    if (due >= timeline.End)
                    {
                        break;
                    }
                    var wait = due - Clock.Now;
                    if (wait > 0)
                    {
                        Thread.Sleep(Math.Max(1, (int)(wait * 1000 / Stopwatch.Frequency)));
                        i--;
                        continue;
                    }
                    var measured = due >= timeline.MeasureStart;
                    var op = workload.Next(rng);
                    if (metrics.InFlight >= options.MaxInFlight)
                    {
                        metrics.Errors.Add("client-backlog (--max-in-flight reached, not sent)", measured);
                        continue;
                    }
                    if (measured)
                    {
                        Interlocked.Increment(ref _measuredStarted);
                    }
                    metrics.OperationStarted();
                    LastScheduled = due;
                    _ = RunOneAsync(op, due, measured, ct);
                }
                done.SetResult();
            }
            catch (Exception ex)
            {
                done.SetException(ex);
            }
        })
        { IsBackground = true, Name = "open-loop dispatcher", Priority = ThreadPriority.AboveNormal };
        thread.Start();
        return done.Task;
    }

    private async Task RunOneAsync(Operation op, long due, bool measured, CancellationToken ct)
    {
        await Task.Yield();
        if (measured && options.Mode == LoopMode.Open)
        {
            metrics.Record(StartLag, measured: true, due, Clock.Now);
        }
        try
        {
            await workload.ExecuteAsync(op, due, measured, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            metrics.Errors.Add("client exception " + ex.GetType().Name, measured);
        }
        finally
        {
            metrics.OperationCompleted();
        }
    }

    /// <summary>--concurrency workers, each starting its next operation when the last one finished.</summary>
    private async Task RunClosedAsync(Timeline timeline, CancellationToken ct)
    {
        var workers = Enumerable.Range(0, options.Concurrency).Select(async worker =>
        {
            await Task.Yield();
            var rng = new Random(options.Seed + worker);
            while (!ct.IsCancellationRequested)
            {
                var start = Clock.Now;
                if (start < timeline.Start)
                {
                    await Task.Delay(TimeSpan.FromSeconds(Clock.Seconds(timeline.Start - start)), ct);
                    continue;
                }
                if (start >= timeline.End)
                {
                    return;
                }
                var measured = start >= timeline.MeasureStart;
                if (measured)
                {
                    Interlocked.Increment(ref _measuredStarted);
                }
                metrics.OperationStarted();
                LastScheduled = start;
                await RunOneAsync(workload.Next(rng), start, measured, ct);
            }
        }).ToList();
        try
        {
            await Task.WhenAll(workers);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    /// <summary>Waits until every started operation has finished (answers, and orders followed to the end).</summary>
    public async Task WaitForInFlightAsync(TimeSpan limit, CancellationToken ct)
    {
        var deadline = Clock.Now + Clock.Ticks(limit);
        while (metrics.InFlight > 0 && Clock.Now < deadline && !ct.IsCancellationRequested)
        {
            await Task.Delay(100, CancellationToken.None);
        }
    }
}

/// <summary>The live line: phase, completions per second, in flight, errors, p99 of the last second and so far.</summary>
public sealed class Progress(Options options, RunMetrics metrics, Timeline timeline, string primary)
{
    private readonly bool _tty = !Console.IsErrorRedirected;

    public async Task RunAsync(CancellationToken stop)
    {
        var lastCompleted = metrics.Completed;
        var lastTime = Clock.Now;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                metrics.CollectAll();
                var now = Clock.Now;
                var completed = metrics.Completed;
                var rate = (completed - lastCompleted) / Clock.Seconds(now - lastTime);
                (lastCompleted, lastTime) = (completed, now);
                if (!options.Quiet)
                {
                    Write(Line(now, rate));
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        metrics.CollectAll();
        if (!options.Quiet && _tty)
        {
            Console.Error.WriteLine();
        }
    }

    private string Line(long now, double rate)
    {
        var (phase, elapsed, total) = now < timeline.MeasureStart
            ? ("warm-up", now - timeline.Start, timeline.MeasureStart - timeline.Start)
            : now < timeline.End
                ? ("measure", now - timeline.MeasureStart, timeline.End - timeline.MeasureStart)
                : ("drain", now - timeline.End, 0L);
        var series = now < timeline.MeasureStart ? metrics.Warmup : metrics.All.FirstOrDefault(m => m.Name == primary);
        var last = series?.LastInterval is { TotalCount: > 0 } interval ? Ms(interval.GetValueAtPercentile(99)) : "-";
        var soFar = series is { Total.TotalCount: > 0 } ? Ms(series.Total.GetValueAtPercentile(99)) : "-";
        var totalText = total > 0 ? string.Create(CultureInfo.InvariantCulture, $"/{Clock.Seconds(total):0}s") : "";
        return string.Create(CultureInfo.InvariantCulture,
            $"[{phase} {Clock.Seconds(elapsed):0}s{totalText}] done {rate:0}/s  in flight {metrics.InFlight}  errors {metrics.Errors.Total}  p99 {primary}: last 1s {last}, so far {soFar}");
    }

    private static string Ms(long micros) => string.Create(CultureInfo.InvariantCulture, $"{micros / 1000.0:0.0} ms");

    private void Write(string line)
    {
        if (_tty)
        {
            Console.Error.Write("\r" + line.PadRight(150));
        }
        else
        {
            Console.Error.WriteLine(line);
        }
    }
}
