namespace Mercato.ServiceDefaults.Http;

/// <summary>Failures of a call to another service that mean "it is unavailable now", as opposed to a bug.</summary>
public static class Downstream
{
    /// <remarks>
    /// Polly's <see cref="Polly.ExecutionRejectedException"/> covers the sidecar pipeline's refusals: breaker open,
    /// attempt or total timeout, bulkhead and rate limiter.
    /// </remarks>
    public static bool IsUnavailable(Exception ex, CancellationToken requestAborted) =>
        ex is HttpRequestException or InvalidOperationException or TimeoutException or Polly.ExecutionRejectedException
        || (ex is OperationCanceledException && !requestAborted.IsCancellationRequested);
}
