namespace Mercato.ServiceDefaults.Http;

/// <summary>Failures of a call to another service that mean "it is unavailable now", as opposed to a bug.</summary>
public static class Downstream
{
    public static bool IsUnavailable(Exception ex, CancellationToken requestAborted) =>
        ex is HttpRequestException or InvalidOperationException or TimeoutException or Polly.CircuitBreaker.BrokenCircuitException
        || (ex is OperationCanceledException && !requestAborted.IsCancellationRequested);
}
