using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using HttpJsonOptions = Microsoft.AspNetCore.Http.Json.JsonOptions;

namespace Mercato.ServiceDefaults.Http;

/// <summary>
/// The problem-details writer of last resort, registered after the framework's. That one writes only for a client whose
/// <c>Accept</c> allows JSON; for <c>Accept: text/html</c> no writer was left, so <see cref="IProblemDetailsService.WriteAsync"/>
/// threw (a 500 in place of a 415, 429 or 503), the exception handler answered with an empty body and the status-code
/// pages with plain text. Every error answer is problem JSON whatever <c>Accept</c> says: RFC 9110 (section 12.1) lets a
/// server send a representation the client did not list rather than a 406.
/// </summary>
public sealed class ProblemJsonWriter(IOptions<ProblemDetailsOptions> options, IOptions<HttpJsonOptions> json) : IProblemDetailsWriter
{
    public const string ContentType = "application/problem+json";

    public bool CanWrite(ProblemDetailsContext context) => true;

    public ValueTask WriteAsync(ProblemDetailsContext context)
    {
        var problem = context.ProblemDetails;
        var response = context.HttpContext.Response;
        problem.Status ??= response.StatusCode;
        // The framework's defaults (a type link and a title for the status), as its own writer applies them: the same
        // problem reads the same whatever the caller's Accept. A problem result applies them to the instance it is given.
        _ = TypedResults.Problem(problem);
        options.Value.CustomizeProblemDetails?.Invoke(context);
        return new ValueTask(response.WriteAsJsonAsync(problem, problem.GetType(), json.Value.SerializerOptions, ContentType,
            context.HttpContext.RequestAborted));
    }
}
