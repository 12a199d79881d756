using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.DependencyInjection;

namespace Mercato.ServiceDefaults.Http;

/// <summary>
/// A 415 names the field to fix, <c>Content-Type</c>, as every other 4xx names its field: routing answers 415 for a
/// body in another media type before any endpoint runs, and binding for a body sent without one.
/// </summary>
public static class UnsupportedMediaType
{
    public const string Field = "Content-Type";

    public const string Message = "Send the body as JSON, with Content-Type: application/json.";

    /// <summary>The status-code pages' answer to an error without a body: problem details, naming the field for a 415.</summary>
    public static Task WriteStatusProblemAsync(StatusCodeContext status)
    {
        var http = status.HttpContext;
        var code = http.Response.StatusCode;
        ProblemDetails problem = code == StatusCodes.Status415UnsupportedMediaType
            ? new HttpValidationProblemDetails(new Dictionary<string, string[]> { [Field] = [Message] }) { Status = code, Detail = Message }
            : new ProblemDetails { Status = code };
        return http.RequestServices.GetRequiredService<IProblemDetailsService>()
            .WriteAsync(new ProblemDetailsContext { HttpContext = http, ProblemDetails = problem }).AsTask();
    }
}
