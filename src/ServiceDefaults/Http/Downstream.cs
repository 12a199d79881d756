using Microsoft.AspNetCore.Http;

namespace Mercato.ServiceDefaults.Http;

/// <summary>Failures of a call to another service that mean "it is unavailable now", as opposed to a bug.</summary>
public static class Downstream
{
    /// <summary>What every 503 here asks a client to wait before retrying, in seconds.</summary>
    public const string RetryAfterSeconds = "5";

    /// <summary>The 503 for a service this request needed and could not reach, with <c>Retry-After</c> like every other 503.</summary>
    public static IResult UnavailableProblem(HttpResponse response, string title, string detail)
    {
        response.Headers.RetryAfter = RetryAfterSeconds;
        return Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: title, detail: detail);
    }

    /// <remarks>
    /// Polly's <see cref="Polly.ExecutionRejectedException"/> covers the sidecar pipeline's refusals: breaker open,
    /// attempt or total timeout, bulkhead and rate limiter.
    /// </remarks>
    public static bool IsUnavailable(Exception ex, CancellationToken requestAborted) =>
        ex is HttpRequestException or InvalidOperationException or TimeoutException or Polly.ExecutionRejectedException
        || (ex is OperationCanceledException && !requestAborted.IsCancellationRequested);

    /// <summary>
    /// A failed call that certainly never reached the target: its breaker was open, a limiter refused it, discovery
    /// found no instance (an InvalidOperationException), or no connection could be opened. Any other failure (a
    /// timeout, a connection lost mid-call) may have reached it and been acted on, which matters for a call that is
    /// not safe to repeat blindly.
    /// </summary>
    public static bool NeverSent(Exception ex) =>
        ex is Polly.CircuitBreaker.BrokenCircuitException or Polly.RateLimiting.RateLimiterRejectedException or InvalidOperationException
        || NoConnection(ex);

    /// <summary>
    /// An answer that arrived but could not be read: not JSON, or cut off mid-body. A body is read after the sidecar
    /// pipeline has returned, so a connection lost mid-answer surfaces as an IOException, not an HttpRequestException.
    /// </summary>
    public static bool Unreadable(Exception ex) => ex is System.Text.Json.JsonException or IOException;

    /// <summary>No connection to the target could be opened (refused, or its name not resolved): nothing was sent.</summary>
    public static bool NoConnection(Exception? ex) =>
        ex is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError };
}
