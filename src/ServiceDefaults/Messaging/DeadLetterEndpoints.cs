using Mercato.ServiceDefaults.Auth;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Wolverine.Persistence.Durability;
using Wolverine.Persistence.Durability.DeadLetterManagement;

namespace Mercato.ServiceDefaults.Messaging;

public sealed record DeadLetterResponse(
    Guid Id, string MessageType, string ExceptionType, string ExceptionMessage, string? Source, DateTimeOffset SentAt, bool Replayable);

public sealed record ReplayRequest(Guid[]? Ids);

/// <summary>
/// Admin view of the messages this service could not process (Wolverine's dead-letter table in the service's own
/// database, with the exception that sent them there), and replay: a replayed message goes back to the inbox.
/// </summary>
public static class DeadLetterEndpoints
{
    public static void MapDeadLetterEndpoints(this IEndpointRouteBuilder app, string prefix)
    {
        var deadLetters = app.MapGroup($"{prefix.TrimEnd('/')}/admin/dead-letters")
            .RequireAuthorization(MercatoAuth.AdminPolicy).WithTags("Dead letters");

        deadLetters.MapGet("/", async (string? messageType, IMessageStore store, CancellationToken ct) =>
        {
            var results = await store.DeadLetters.QueryAsync(new DeadLetterEnvelopeQuery { MessageType = messageType }, ct);
            return Results.Ok(results.Envelopes.Select(e => new DeadLetterResponse(
                e.Id, e.MessageType, e.ExceptionType, e.ExceptionMessage, e.Source, e.SentAt, e.Replayable)));
        });

        deadLetters.MapPost("/replay", async (ReplayRequest request, IMessageStore store) =>
        {
            if (request.Ids is not { Length: > 0 and <= 1000 })
            {
                return Results.ValidationProblem(new Dictionary<string, string[]> { ["ids"] = ["Between 1 and 1000 dead-letter ids."] });
            }
            await store.DeadLetters.MarkDeadLetterEnvelopesAsReplayableAsync(request.Ids);
            return Results.Accepted(value: new { replaying = request.Ids.Length });
        });
    }
}
