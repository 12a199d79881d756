using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using HdrHistogram;
using Spectre.Console;

namespace Mercato.LoadGen;

public sealed record MachineInfo(int Cores, double MemoryGiB, string Os, string Runtime)
{
    public static MachineInfo Current()
    {
        double memory = 0;
        try
        {
            var line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
            if (line is not null && long.TryParse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture, out var kb))
            {
                memory = Math.Round(kb / 1024.0 / 1024.0, 1);
            }
        }
        catch (IOException)
        {
        }
        return new(Environment.ProcessorCount, memory, System.Runtime.InteropServices.RuntimeInformation.OSDescription,
            System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription);
    }
}

public sealed record SeriesReport(
    string Name, long Count, double ThroughputPerSecond, double P50Ms, double P90Ms, double P99Ms, double P999Ms, double MaxMs, double MeanMs)
{
    public static SeriesReport From(string name, HistogramBase h, double seconds) => new(
        name, h.TotalCount, seconds > 0 ? Math.Round(h.TotalCount / seconds, 1) : 0,
        Ms(h, 50), Ms(h, 90), Ms(h, 99), Ms(h, 99.9), h.TotalCount == 0 ? 0 : Math.Round(h.GetMaxValue() / 1000.0, 2),
        h.TotalCount == 0 ? 0 : Math.Round(h.GetMean() / 1000.0, 2));

    private static double Ms(HistogramBase h, double percentile) =>
        h.TotalCount == 0 ? 0 : Math.Round(h.GetValueAtPercentile(percentile) / 1000.0, 2);
}

public sealed record LoadReport(
    string Tool, string? Label, DateTimeOffset StartedAt, MachineInfo Machine, string Gateway, string Scenario, string Mode,
    double? Rate, int? Concurrency, double WarmupSeconds, double DurationSeconds, int Users, double? CheckoutShare,
    long OperationsStartedMeasured, double OfferedPerSecond, bool RateLimitsRaised,
    IReadOnlyList<SeriesReport> Series, SeriesReport Warmup,
    long ErrorsMeasured, IReadOnlyDictionary<string, long> Errors, IReadOnlyDictionary<string, long> WarmupErrors,
    AuditReport? Audit, bool Passed, string Notes)
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };
}

public static class ReportWriter
{
    public static void Print(LoadReport report)
    {
        if (Console.IsOutputRedirected)
        {
            AnsiConsole.Profile.Width = 200;
        }
        var c = CultureInfo.InvariantCulture;
        var load = report.Mode == "open"
            ? string.Create(c, $"open loop, {report.Rate:0.#} ops/s offered")
            : string.Create(c, $"closed loop, {report.Concurrency} workers");
        AnsiConsole.WriteLine();
        AnsiConsole.MarkupLine(Markup.Escape(string.Create(c,
            $"{report.Scenario} against {report.Gateway}: {load}, warm-up {report.WarmupSeconds:0.#} s, measured {report.DurationSeconds:0.#} s; {report.Machine.Cores} cores, {report.Machine.MemoryGiB} GiB")));
        AnsiConsole.MarkupLine(Markup.Escape(string.Create(c,
            $"operations started in the measured window: {report.OperationsStartedMeasured} ({report.OfferedPerSecond:0.#}/s)")));

        var table = new Table().Border(TableBorder.Rounded).Title("latency (ms, from each operation's intended start) and throughput");
        foreach (var (title, right) in new[] { ("series", false), ("count", true), ("ok/s", true), ("p50", true), ("p90", true), ("p99", true), ("p99.9", true), ("max", true) })
        {
            var column = new TableColumn(title);
            table.AddColumn(right ? column.RightAligned() : column);
        }
        foreach (var s in report.Series)
        {
            table.AddRow(Markup.Escape(s.Name), s.Count.ToString(c), s.ThroughputPerSecond.ToString("0.#", c),
                F(s.P50Ms), F(s.P90Ms), F(s.P99Ms), F(s.P999Ms), F(s.MaxMs));
        }
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine(Markup.Escape(string.Create(c,
            $"warm-up (not in the table): {report.Warmup.Count} samples, p99 {report.Warmup.P99Ms} ms, {report.WarmupErrors.Values.Sum()} errors")));

        if (report.Errors.Count == 0)
        {
            AnsiConsole.MarkupLine("[green]errors in the measured window: none[/]");
        }
        else
        {
            var errors = new Table().Border(TableBorder.Rounded).Title("errors in the measured window, by kind");
            errors.AddColumn("kind").AddColumn(new TableColumn("count").RightAligned());
            foreach (var (kind, count) in report.Errors)
            {
                errors.AddRow(Markup.Escape(kind), count.ToString(c));
            }
            AnsiConsole.Write(errors);
        }

        if (report.Audit is { } audit)
        {
            var o = audit.Orders;
            var p = audit.Payments;
            var rows = new Table().Border(TableBorder.Rounded).Title("end-state audit" + (audit.Passed ? " [green]PASSED[/]" : " [red]FAILED[/]"));
            rows.AddColumn("check").AddColumn("result");
            rows.AddRow("orders placed (202)", string.Create(c, $"{o.Placed}: {o.Confirmed} Confirmed, {o.Cancelled} Cancelled, {o.NotTerminal} not terminal"));
            if (o.AmbiguousFailures > 0)
            {
                rows.AddRow("ambiguous failures", string.Create(c,
                    $"{o.AmbiguousFailures}: {o.AmbiguousExisted} had created an order, {o.AmbiguousCreatedByAudit} created on re-send, {o.AmbiguousUnresolved} unresolved"));
            }
            if (o.Untracked > 0)
            {
                rows.AddRow("[red]orders the load was never told of[/]", string.Create(c, $"{o.Untracked} (audited with the others)"));
            }
            foreach (var (reason, count) in o.CancellationReasons)
            {
                rows.AddRow("  cancelled because", Markup.Escape(string.Create(c, $"{count} × {reason}")));
            }
            rows.AddRow("consistent after", string.Create(c, $"{audit.ConsistentAfterSeconds:0.0} s of audit (stock commits and refunds are asynchronous)"));
            rows.AddRow("stock arithmetic", Markup.Escape(string.Create(c,
                $"{(audit.Stock.Passed ? "consistent" : "BROKEN")} over {audit.Stock.Products} products, {audit.Stock.UnitsConfirmed} units confirmed")));
            foreach (var detail in audit.Stock.Details.Take(5))
            {
                rows.AddRow("", Markup.Escape(detail));
            }
            rows.AddRow("payments", Markup.Escape(string.Create(c,
                $"captured {p.Captured} - refunded {p.Refunded} = {p.CapturedMinusRefunded}; confirmed totals {p.ConfirmedOrderTotals}; {p.OrderMismatches} orders inconsistent")));
            foreach (var detail in p.Details.Take(5))
            {
                rows.AddRow("", Markup.Escape(detail));
            }
            AnsiConsole.Write(rows);
        }
        AnsiConsole.MarkupLine(Markup.Escape(report.Notes));
        AnsiConsole.MarkupLine(report.Passed ? "[green]result: PASSED[/]" : "[red]result: FAILED[/] (errors in the measured window or a failed audit)");
    }

    public static async Task WriteJsonAsync(LoadReport report, string path)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }
        await using var file = File.Create(path);
        await JsonSerializer.SerializeAsync(file, report, LoadReport.Json);
    }

    private static string F(double ms) => ms.ToString(ms >= 100 ? "0" : "0.00", CultureInfo.InvariantCulture);
}
