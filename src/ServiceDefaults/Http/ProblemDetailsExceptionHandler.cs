using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Logging;

namespace Mercato.ServiceDefaults.Http;

/// <summary>
/// Turns request-binding failures (malformed JSON, wrong types, unparsable route values) into 400 problem details that
/// name the offending field, a database that cannot be reached or is busy into a 503 with Retry-After (the request may
/// succeed if sent again), and anything unexpected into a 500 without internals.
/// </summary>
public sealed partial class ProblemDetailsExceptionHandler(IProblemDetailsService problems, ILogger<ProblemDetailsExceptionHandler> logger)
    : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        ProblemDetails problem;
        if (exception is BadHttpRequestException bad)
        {
            var (field, message) = Describe(bad);
            problem = new HttpValidationProblemDetails(new Dictionary<string, string[]> { [field] = [message] })
            {
                Status = bad.StatusCode,
                Title = "The request is invalid.",
                Detail = message,
            };
        }
        else if (Data.DatabaseErrors.IsTransientFailure(exception))
        {
            logger.LogWarning("Database unavailable on {Method} {Path}: {Error}", httpContext.Request.Method, httpContext.Request.Path, exception.GetBaseException().Message);
            Telemetry.SpanTags.RecordError(exception.GetBaseException().Message);
            httpContext.Response.Headers.RetryAfter = Downstream.RetryAfterSeconds;
            problem = new ProblemDetails
            {
                Status = StatusCodes.Status503ServiceUnavailable,
                Title = "Temporarily unavailable",
                Detail = "The service could not reach its database. Nothing was changed; retry in a few seconds.",
            };
        }
        else
        {
            logger.LogError(exception, "Unhandled exception on {Method} {Path}", httpContext.Request.Method, httpContext.Request.Path);
            Telemetry.SpanTags.RecordError(exception.Message);
            problem = new ProblemDetails
            {
                Status = StatusCodes.Status500InternalServerError,
                Title = "An unexpected error occurred.",
            };
        }
        httpContext.Response.StatusCode = problem.Status!.Value;
        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = httpContext, ProblemDetails = problem, Exception = exception });
    }

    private static (string Field, string Message) Describe(BadHttpRequestException bad)
    {
        // A body sent without a JSON Content-Type (or none at all): the header is what to fix, not the body.
        if (bad.StatusCode == StatusCodes.Status415UnsupportedMediaType)
        {
            return (UnsupportedMediaType.Field, UnsupportedMediaType.Message);
        }
        // "Implicit body inferred for parameter ... but no body was provided" (also for a JSON null, whatever its
        // Content-Length) or "... was not provided from body": the framework's words, about a parameter; to the client
        // it is the body.
        if (bad is { InnerException: null, StatusCode: StatusCodes.Status400BadRequest }
            && (bad.Message.Contains("no body was provided", StringComparison.OrdinalIgnoreCase)
                || bad.Message.Contains("from body", StringComparison.OrdinalIgnoreCase)))
        {
            return ("body", "A JSON request body is required.");
        }
        if (bad.InnerException is JsonException json)
        {
            // A reader error inside means the JSON itself is broken; otherwise a value had the wrong type.
            var field = string.IsNullOrEmpty(json.Path) || json.Path == "$" ? "body" : json.Path.TrimStart('$', '.');
            return json.InnerException is JsonException || field == "body"
                ? ("body", $"The request body is not valid JSON (at {json.Path ?? "$"}, line {json.LineNumber + 1}).")
                : (field, $"The value of '{field}' is not valid.");
        }
        var parameter = ParameterName().Match(bad.Message);
        return parameter.Success
            ? (parameter.Groups["name"].Value, $"The value of '{parameter.Groups["name"].Value}' is not valid.")
            : ("request", bad.Message);
    }

    // Messages look like: Failed to bind parameter "Guid id" from "abc".  /  Required parameter "int page" was not provided ...
    [GeneratedRegex("parameter \"[^\"]*? (?<name>[A-Za-z0-9_]+)\"")]
    private static partial Regex ParameterName();
}
