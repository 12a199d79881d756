using System.Globalization;
using System.Runtime.InteropServices;
using Mercato.LoadGen;

// Mercato's load generator: see Options.Usage, bench/README.md and docs/benchmarks.md.
Options options;
try
{
    options = Options.Parse(args);
}
catch (UsageException ex)
{
    if (!ex.HelpOnly)
    {
        await Console.Error.WriteLineAsync("loadgen: " + ex.Message);
    }
    await Console.Error.WriteLineAsync(Options.Usage);
    return ex.HelpOnly ? 0 : 2;
}

void Log(string message) => Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[loadgen {DateTime.Now:HH:mm:ss}] {message}"));

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    Log("interrupted: stopping the load, then restoring the policy document");
    stop.Cancel();
};
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    Log("SIGTERM: stopping the load, then restoring the policy document");
    stop.Cancel();
});
// Bursts of due operations start on the thread pool; do not wait for its slow growth.
ThreadPool.GetMinThreads(out var workers, out var io);
ThreadPool.SetMinThreads(Math.Max(workers, 8), Math.Max(io, 8));

var ct = stop.Token;
var startedAt = DateTimeOffset.UtcNow;
using var api = new MercatoApi(options.Gateway, options.Connections, options.RequestTimeout, options.BypassCache);
var setup = new Setup(api, options, Log);
var metrics = new RunMetrics();
LoadReport report;
try
{
    await setup.LoginAdminAsync(ct);
    await setup.LoadProductsAsync(ct);
    if (options.RaiseLimits)
    {
        await setup.RaiseLimitsAsync(ct);
    }
    IReadOnlyDictionary<Guid, StockDto> stockBefore = new Dictionary<Guid, StockDto>();
    var orders = options.Scenario == Scenario.Checkout || (options.Scenario == Scenario.Mixed && options.CheckoutShare > 0);
    if (orders)
    {
        await setup.PrepareUsersAsync(ct);
        if (options.Stock > 0)
        {
            await setup.SetStockAsync(ct);
        }
        // The audit compares stock with what it was before; without the audit, nothing needs to wait for it.
        stockBefore = options.Audit ? await setup.SettleAsync(ct) : await setup.ReadStockAsync(ct);
    }

    var workload = new Workload(api, options, metrics, setup.Products, setup.Users);
    var engine = new Engine(options, workload, metrics);
    var primary = options.Scenario == Scenario.Checkout ? Workload.Place : Workload.BrowseAll;
    var timeline = Timeline.From(options, Clock.Now + Clock.Ticks(TimeSpan.FromMilliseconds(200)));
    Log(options.Mode == LoopMode.Open
        ? string.Create(CultureInfo.InvariantCulture, $"{options.Scenario.ToString().ToLowerInvariant()}: open loop at {options.Rate:0.#} ops/s, warm-up {options.Warmup.TotalSeconds:0.#} s, measured {options.Duration.TotalSeconds:0.#} s")
        : string.Create(CultureInfo.InvariantCulture, $"{options.Scenario.ToString().ToLowerInvariant()}: closed loop with {options.Concurrency} workers, warm-up {options.Warmup.TotalSeconds:0.#} s, measured {options.Duration.TotalSeconds:0.#} s"));

    using var progressStop = new CancellationTokenSource();
    var progress = new Progress(options, metrics, timeline, primary).RunAsync(progressStop.Token);
    await engine.RunAsync(timeline, ct);
    await engine.WaitForInFlightAsync(options.RequestTimeout + options.OrderTimeout + TimeSpan.FromSeconds(5), ct);
    await progressStop.CancelAsync();
    await progress;
    if (metrics.InFlight > 0)
    {
        Log($"{metrics.InFlight} operations still in flight after the wait; reported as they stand");
    }

    AuditReport? audit = null;
    if (orders && options.Audit && !ct.IsCancellationRequested)
    {
        Log($"audit: checking {workload.Placed} orders, stock and payments");
        audit = await new Audit(api, options, setup, workload, startedAt, Log).RunAsync(stockBefore, ct);
        Log(string.Create(CultureInfo.InvariantCulture, $"audit {(audit.Passed ? "passed" : "FAILED")} in {audit.Seconds:0.0} s"));
    }

    var measuredSeconds = options.Duration.TotalSeconds;
    string[] order = [Workload.BrowseAll, Workload.BrowseList, Workload.BrowseSearch, Workload.BrowseProduct, Workload.Place, Workload.Complete, Engine.StartLag];
    var series = metrics.All.OrderBy(m => Array.IndexOf(order, m.Name) is var i && i < 0 ? order.Length : i).Select(m =>
    {
        var (_, last) = m.Span;
        var seconds = Math.Max(measuredSeconds, Clock.Seconds(last - timeline.MeasureStart));
        return SeriesReport.From(m.Name, m.Total, seconds);
    }).ToList();
    var errors = metrics.Errors.Measured;
    var interrupted = ct.IsCancellationRequested;
    var notes = "Latency counts from each operation's intended start (open loop: its slot in the constant-rate schedule, so queueing "
        + "behind a slow answer is included; closed loop: when the worker sent it). Failed requests are counted as errors, not as latency samples. "
        + "'checkout: order terminal' = the order's Confirmed/Cancelled event timestamp (ordering's clock, same machine) minus the intended start. "
        + $"'{Engine.StartLag}' (open loop) = how late the generator itself started each operation: included in every latency above."
        + (interrupted ? " INTERRUPTED before the end: partial numbers." : "")
        + (options.Mode == LoopMode.Open && options.Rate * options.Duration.TotalSeconds < 100 ? " Fewer than 100 samples: percentiles are rough." : "");
    report = new LoadReport("mercato-loadgen", options.Label, startedAt, MachineInfo.Current(), options.Gateway.ToString(),
        options.Scenario.ToString().ToLowerInvariant(), options.Mode.ToString().ToLowerInvariant(),
        options.Mode == LoopMode.Open ? options.Rate : null, options.Mode == LoopMode.Closed ? options.Concurrency : null,
        options.Warmup.TotalSeconds, options.Duration.TotalSeconds, orders ? options.Users : 0,
        options.Scenario == Scenario.Mixed ? options.CheckoutShare : null,
        engine.MeasuredStarted, Math.Round(engine.MeasuredStarted / measuredSeconds, 1), options.RaiseLimits,
        series, SeriesReport.From("warm-up", metrics.Warmup.Total, options.Warmup.TotalSeconds),
        metrics.Errors.MeasuredTotal, errors, metrics.Errors.Warmup, audit,
        !interrupted && metrics.Errors.MeasuredTotal == 0 && (audit?.Passed ?? true) && metrics.InFlight == 0, notes);
}
catch (Exception ex) when (ex is InvalidOperationException or HttpRequestException or OperationCanceledException)
{
    Log("failed: " + ex.Message);
    return 3;
}
finally
{
    if (options.RaiseLimits)
    {
        using var restore = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await setup.RestoreLimitsAsync(restore.Token);
    }
}

ReportWriter.Print(report);
if (options.JsonPath is { } path)
{
    await ReportWriter.WriteJsonAsync(report, path);
    Log($"JSON report written to {path}");
}
return report.Passed ? 0 : 1;
