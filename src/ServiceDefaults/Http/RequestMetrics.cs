using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Http;

namespace Mercato.ServiceDefaults.Http;

/// <summary>
/// The spec's request metrics, by its names: requests_total{service,method,status},
/// request_duration_seconds{service,method} and active_connections{service} (requests in flight). Health probes and
/// scrapes are not counted, so the numbers are the traffic callers sent.
/// </summary>
public sealed class RequestMetrics : IDisposable
{
    public const string MeterName = "Mercato.Http";

    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _requests;
    private readonly Histogram<double> _duration;
    private readonly UpDownCounter<long> _active;

    public RequestMetrics()
    {
        _requests = _meter.CreateCounter<long>("requests_total", description: "Requests answered, by method and status.");
        _duration = _meter.CreateHistogram<double>("request_duration_seconds", unit: null, description: "Time to answer a request.",
            tags: null, advice: Telemetry.MetricBuckets.Seconds);
        _active = _meter.CreateUpDownCounter<long>("active_connections", description: "Requests in flight.");
    }

    public async Task MeasureAsync(HttpContext context, string service, Func<Task> next)
    {
        var path = context.Request.Path;
        if (path.StartsWithSegments("/health") || path.StartsWithSegments("/metrics"))
        {
            await next();
            return;
        }
        var serviceTag = new KeyValuePair<string, object?>("service", service);
        var method = new KeyValuePair<string, object?>("method", MethodLabel(context.Request.Method));
        _active.Add(1, serviceTag);
        var started = Stopwatch.GetTimestamp();
        var status = 500;
        try
        {
            await next();
            status = context.RequestAborted.IsCancellationRequested && !context.Response.HasStarted ? 499 : context.Response.StatusCode;
        }
        finally
        {
            _active.Add(-1, serviceTag);
            _duration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, serviceTag, method);
            _requests.Add(1, serviceTag, method, new("status", status));
        }
    }

    /// <summary>
    /// The method as a metric label: a client can send any token as its method, and each new one would be a new series
    /// (held in memory, shown on every scrape, and crowding out real series at the SDK's cardinality limit). Unknown
    /// methods count as <c>_OTHER</c>, as ASP.NET Core's own <c>http.server.request.duration</c> does.
    /// </summary>
    public static string MethodLabel(string method) => method switch
    {
        _ when HttpMethods.IsGet(method) => HttpMethods.Get,
        _ when HttpMethods.IsPost(method) => HttpMethods.Post,
        _ when HttpMethods.IsPut(method) => HttpMethods.Put,
        _ when HttpMethods.IsDelete(method) => HttpMethods.Delete,
        _ when HttpMethods.IsPatch(method) => HttpMethods.Patch,
        _ when HttpMethods.IsHead(method) => HttpMethods.Head,
        _ when HttpMethods.IsOptions(method) => HttpMethods.Options,
        _ => "_OTHER",
    };

    public void Dispose() => _meter.Dispose();
}
