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

public sealed record ReplayAccepted(int Replaying);

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
        }).Produces<List<DeadLetterResponse>>();

        deadLetters.MapPost("/replay", async (ReplayRequest request, IMessageStore store, CancellationToken ct) =>
        {
            if (request.Ids is not { Length: > 0 and <= 1000 })
            {
                return Results.ValidationProblem(new Dictionary<string, string[]> { ["ids"] = ["Between 1 and 1000 dead-letter ids."] });
            }
            // All or nothing: an id that names no dead letter (mistyped, or already replayed and handled) refuses the
            // request, so the count in the answer is what is really going back to the inbox.
            var ids = request.Ids.Distinct().ToArray();
            var found = await store.DeadLetters.QueryAsync(new DeadLetterEnvelopeQuery { MessageIds = ids, PageSize = ids.Length }, ct);
            var known = found.Envelopes.Select(e => e.Id).ToHashSet();
            var unknown = request.Ids.Index().Where(id => !known.Contains(id.Item)).ToDictionary(id => $"ids[{id.Index}]", _ => new[] { "No dead letter has this id." });
            if (unknown.Count > 0)
            {
                return Results.ValidationProblem(unknown, title: "Nothing was replayed.",
                    detail: $"{unknown.Count} of the ids name no dead letter (already replayed, or never one). Reload the list and select again.");
            }
            await store.DeadLetters.MarkDeadLetterEnvelopesAsReplayableAsync(ids);
            return Results.Accepted(value: new ReplayAccepted(ids.Length));
        }).Produces<ReplayAccepted>(StatusCodes.Status202Accepted);
    }
}
