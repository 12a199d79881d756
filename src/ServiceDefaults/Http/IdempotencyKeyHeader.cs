using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Mercato.ServiceDefaults.Http;

/// <summary>
/// The Idempotency-Key request header, checked the same way wherever a request may be retried: one key of 1 to 100
/// printable ASCII characters (a key travels on in headers to other services, whose clients send ASCII only). Several
/// Idempotency-Key headers reach the endpoint joined by commas (and a proxy may join them too), so a comma is refused:
/// otherwise "A" and "B" sent together would make a third key, "A,B", and a retry carrying only "A" would do the work
/// twice.
/// </summary>
public static class IdempotencyKeyHeader
{
    public const string Name = "Idempotency-Key";
    public const int MaxLength = 100;

    /// <summary>
    /// On an answer given again for a key that was already used (<c>true</c>), as Stripe's API names it: the client
    /// learns its retry changed nothing.
    /// </summary>
    public const string ReplayedHeader = "Idempotent-Replayed";

    public static void MarkReplayed(HttpResponse response) => response.Headers[ReplayedHeader] = "true";

    /// <summary>Length of <see cref="RequestHash"/>: SHA-256 in hex.</summary>
    public const int RequestHashLength = 64;

    /// <summary>
    /// The hash stored with a key of what its first request asked for (<paramref name="canonical"/>: the request in a
    /// form that does not depend on how it was written), so a key sent again with a different request can be told apart.
    /// </summary>
    public static string RequestHash(string canonical) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));

    /// <summary>
    /// The answer to a key sent again with a different request: 422 naming the header, as the IETF Idempotency-Key draft
    /// asks. Answering as for the first request would tell the client its second, different one was done.
    /// </summary>
    public static IResult Reused(string message) =>
        Results.ValidationProblem(new Dictionary<string, string[]> { [Name] = [message] },
            statusCode: StatusCodes.Status422UnprocessableEntity, title: "Idempotency-Key reused for a different request");

    /// <returns>What is wrong with the header's value, or null when it is a usable key.</returns>
    public static string? Problem(string? value) =>
        string.IsNullOrWhiteSpace(value) || value.Length > MaxLength
            ? $"The {Name} header is required (1 to {MaxLength} characters)."
            : value.Contains(',')
                ? $"Send one {Name} header, with one key and no comma."
                : value.Any(c => c is < ' ' or > '~')
                    ? $"The {Name} header takes printable ASCII characters only."
                    : null;
}
