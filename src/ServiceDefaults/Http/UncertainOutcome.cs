using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Mercato.ServiceDefaults.Http;

/// <summary>
/// A write whose commit failed in a way that leaves its outcome unknown: the database connection was lost, or the
/// database turned the statement away, while the transaction was being written and committed, so it may have committed
/// before the error reached us. Answered 503 with <see cref="ProblemType"/>, so that a caller does not read it as "not
/// done" and act on that (give the lines back, take a new key); a retry with the same Idempotency-Key learns the outcome.
/// </summary>
public static class UncertainOutcome
{
    public const string ProblemType = "urn:mercato:problem:outcome-unknown";

    public static IResult Problem(HttpResponse response, string detail, IDictionary<string, object?>? extensions = null)
    {
        response.Headers.RetryAfter = Downstream.RetryAfterSeconds;
        return Results.Problem(type: ProblemType, statusCode: StatusCodes.Status503ServiceUnavailable, title: "Outcome unknown", detail: detail,
            extensions: extensions);
    }

    /// <summary>Whether a problem body says the outcome is unknown.</summary>
    public static bool IsNamedIn(string problemBody)
    {
        try
        {
            using var problem = JsonDocument.Parse(problemBody);
            return problem.RootElement.ValueKind == JsonValueKind.Object && problem.RootElement.TryGetProperty("type", out var type)
                && type.ValueKind == JsonValueKind.String && type.GetString() == ProblemType;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
