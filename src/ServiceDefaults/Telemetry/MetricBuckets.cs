using System.Diagnostics.Metrics;

namespace Mercato.ServiceDefaults.Telemetry;

/// <summary>
/// Bucket boundaries for histograms in seconds. Without them the SDK uses its default ones, which are made for
/// milliseconds (0, 5, 10, 25, … 10,000): every request and saga would land in the first bucket or two, and a p99 of
/// 50 ms could not be told from one of 5 s. These are the SDK's own for http.server.request.duration, plus 30 and 60 s
/// for sagas that wait out a timeout.
/// </summary>
public static class MetricBuckets
{
    public static readonly InstrumentAdvice<double> Seconds = new()
    {
        HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60],
    };
}
