using System.Diagnostics;
using System.Text.Json;
using OpenTelemetry;

namespace Mercato.ServiceDefaults.Telemetry;

/// <summary>
/// Writes finished spans as JSON lines to a file (one per process), when <c>Telemetry:SpanDirectory</c> is set. It lets
/// a test, or a person without a collector, read whole traces across processes; OTLP stays the real export path.
/// </summary>
public sealed class JsonLinesSpanExporter : BaseExporter<Activity>
{
    private readonly StreamWriter _writer;
    private readonly string _service;

    public JsonLinesSpanExporter(string directory, string service)
    {
        Directory.CreateDirectory(directory);
        _service = service;
        var path = Path.Combine(directory, $"{service}-{Environment.ProcessId}.jsonl");
        _writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
    }

    public override ExportResult Export(in Batch<Activity> batch)
    {
        foreach (var span in batch)
        {
            var line = JsonSerializer.Serialize(new
            {
                service = _service,
                traceId = span.TraceId.ToHexString(),
                spanId = span.SpanId.ToHexString(),
                parentSpanId = span.ParentSpanId == default ? null : span.ParentSpanId.ToHexString(),
                name = span.DisplayName,
                source = span.Source.Name,
                kind = span.Kind.ToString(),
                start = span.StartTimeUtc,
                durationMs = span.Duration.TotalMilliseconds,
                status = span.Status.ToString(),
                tags = span.TagObjects.Where(t => t.Value is not null).ToDictionary(t => t.Key, t => t.Value!.ToString()),
            });
            lock (_writer)
            {
                _writer.WriteLine(line);
            }
        }
        return ExportResult.Success;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _writer.Dispose();
        }
        base.Dispose(disposing);
    }
}
