using Mercato.ServiceDefaults.Auth;
using Mercato.ServiceDefaults.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
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
    public const int DefaultPageSize = 100;
    public const int MaxPageSize = 500;
    public const int MaxMessageTypeLength = 250;

    public static void MapDeadLetterEndpoints(this IEndpointRouteBuilder app, string prefix)
    {
        var serviceName = app.ServiceProvider.GetRequiredService<IHostEnvironment>().ApplicationName;
        var deadLetters = app.MapGroup($"{prefix.TrimEnd('/')}/admin/dead-letters")
            .RequireAuthorization(MercatoAuth.AdminPolicy).WithTags("Dead letters");

        deadLetters.MapGet("/", async (string? messageType, int? page, int? pageSize, HttpResponse response, IMessageStore store, CancellationToken ct) =>
        {
            var errors = Paging.Problems(page, pageSize, MaxPageSize);
            if (messageType is { } name && !InputText.IsSingleIdentifier(name, MaxMessageTypeLength))
            {
                errors["messageType"] = [$"One message type name: at most {MaxMessageTypeLength} characters, not blank, no commas, control or formatting characters."];
            }
            if (errors.Count > 0)
            {
                return Results.ValidationProblem(errors);
            }
            var query = new DeadLetterEnvelopeQuery { MessageType = messageType, PageNumber = page ?? 1, PageSize = pageSize ?? DefaultPageSize };
            var results = await store.DeadLetters.QueryAsync(query, ct);
            // The list is a page: the count tells a caller (the ops console) whether there is more to fetch. The store's
            // query leaves its TotalCount at 0, so the count comes from its summary, which ignores paging.
            var groups = await store.DeadLetters.SummarizeAllAsync(serviceName, new DeadLetterSummaryOptions { Query = query }, ct);
            response.Headers[Paging.TotalCountHeader] = groups.Sum(g => g.Count).ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Results.Ok(results.Envelopes.Select(e => new DeadLetterResponse(
                e.Id, e.MessageType, e.ExceptionType, e.ExceptionMessage, e.Source, e.SentAt, e.Replayable)));
        }).Produces<List<DeadLetterResponse>>().ProducesValidationProblem();

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
