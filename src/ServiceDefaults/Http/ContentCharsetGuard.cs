using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Mercato.ServiceDefaults.Http;

/// <summary>
/// Checks a request body's declared charset before any endpoint reads it. ASP.NET Core's JSON reader throws an
/// InvalidOperationException, a 500, for a charset it cannot map to an encoding, and that includes the quoted form
/// <c>charset="utf-8"</c> that RFC 9110 allows (dotnet/aspnetcore#61514). A quoted charset is unquoted here; one .NET has
/// no encoding for is a 415 naming <c>Content-Type</c>.
/// </summary>
public sealed class ContentCharsetGuard(RequestDelegate next, IProblemDetailsService problems)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var contentType = context.Request.ContentType;
        if (contentType is not null && contentType.Contains("charset", StringComparison.OrdinalIgnoreCase)
            && MediaTypeHeaderValue.TryParse(contentType, out var mediaType) && mediaType.Charset.HasValue)
        {
            var charset = HeaderUtilities.RemoveQuotes(mediaType.Charset).Value ?? "";
            if (!IsKnown(charset))
            {
                context.Response.StatusCode = StatusCodes.Status415UnsupportedMediaType;
                await problems.WriteAsync(new ProblemDetailsContext
                {
                    HttpContext = context,
                    ProblemDetails = new HttpValidationProblemDetails(new Dictionary<string, string[]>
                    {
                        [HeaderNames.ContentType] = [$"Unsupported charset '{(charset.Length > 40 ? charset[..40] + "…" : charset)}'; send UTF-8."],
                    })
                    {
                        Status = StatusCodes.Status415UnsupportedMediaType,
                        Title = "Unsupported charset.",
                    },
                });
                return;
            }
            if (charset != mediaType.Charset.Value)
            {
                mediaType.Charset = charset;
                context.Request.ContentType = mediaType.ToString();
            }
        }
        await next(context);
    }

    private static bool IsKnown(string charset)
    {
        try
        {
            Encoding.GetEncoding(charset);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
