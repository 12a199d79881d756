using System.Security.Claims;
using System.Text.Json;
using Mercato.Analytics.Data;
using Mercato.ServiceDefaults.Auth;
using Mercato.ServiceDefaults.Http;
using Microsoft.EntityFrameworkCore;

namespace Mercato.Analytics;

public sealed record ProductScore(Guid ProductId, int Score);

/// <summary>An audited integration event, its payload as it was published.</summary>
public sealed record AuditEventResponse(long Sequence, Guid MessageId, string Type, Guid? OrderId, DateTimeOffset OccurredAt, string? Source, JsonElement Data);

public sealed record ReplayResult(int ReplayedOrders);

/// <summary>Products bought together with the caller's purchases; <c>source</c> is "bought-together", or "none" when there are none yet.</summary>
public sealed record Recommendations(string Source, List<ProductScore> Items);

public static class AnalyticsEndpoints
{
    /// <summary>The audit log's events that match, in sequence order, at most <paramref name="limit"/> of them.</summary>
    public static IQueryable<AuditEvent> EventsQuery(AnalyticsDb db, string? type, Guid? orderId, DateTimeOffset? from, DateTimeOffset? to,
        bool newestFirst, int limit)
    {
        var query = db.Events.AsNoTracking();
        if (!string.IsNullOrWhiteSpace(type))
        {
            query = query.Where(e => e.Type == type);
        }
        if (orderId is { } id)
        {
            query = query.Where(e => e.OrderId == id);
        }
        if (from is { } start)
        {
            // Also bounded by sequence: the lowest of the window's events, found through the time index. Ordered by
            // sequence under a limit, SQLite would otherwise walk the log from its newest end down to its oldest whenever
            // the window holds fewer events than the limit. "+ 0" keeps SQLite from finding that minimum by walking the
            // log from its oldest end instead.
            var ticks = start.UtcTicks;
            query = query.Where(e => e.OccurredAtTicks >= ticks
                && e.Sequence >= db.Events.Where(w => w.OccurredAtTicks >= ticks).Min(w => (long?)(w.Sequence + 0)));
        }
        if (to is { } end)
        {
            query = query.Where(e => e.OccurredAtTicks <= end.UtcTicks);
        }
        return (newestFirst ? query.OrderByDescending(e => e.Sequence) : query.OrderBy(e => e.Sequence)).Take(limit);
    }

    public static void MapAnalyticsEndpoints(this WebApplication app)
    {
        var analytics = app.MapGroup("/api/analytics").WithTags("Analytics");

        // order=desc: the newest events first, so that a limit keeps the latest (what a live view wants).
        analytics.MapGet("/events", async (string? type, Guid? orderId, DateTimeOffset? from, DateTimeOffset? to, int? limit, string? order,
            AnalyticsDb db, CancellationToken ct) =>
        {
            if (limit is < 1 or > 1000)
            {
                return Results.ValidationProblem(new Dictionary<string, string[]> { ["limit"] = ["Between 1 and 1000."] });
            }
            if (type is { } name && !InputText.IsSingleIdentifier(name, 100))
            {
                return Results.ValidationProblem(new Dictionary<string, string[]> { ["type"] = ["One event type: at most 100 characters, not blank, no commas, control or formatting characters."] });
            }
            if (order is not (null or "asc" or "desc"))
            {
                return Results.ValidationProblem(new Dictionary<string, string[]> { ["order"] = ["'asc' (oldest first, the default) or 'desc' (newest first)."] });
            }
            if (from > to)
            {
                return Results.ValidationProblem(new Dictionary<string, string[]> { ["from"] = ["Must not be after 'to'."] });
            }
            var events = await EventsQuery(db, type, orderId, from, to, newestFirst: order == "desc", limit ?? 200).ToListAsync(ct);
            return Results.Ok(events.Select(e => new AuditEventResponse(
                e.Sequence, e.MessageId, e.Type, e.OrderId, e.OccurredAt, e.Source, JsonDocument.Parse(e.Data).RootElement)));
        }).RequireAuthorization(MercatoAuth.AdminPolicy).Produces<List<AuditEventResponse>>();

        analytics.MapPost("/events/replay", async (AnalyticsDb db, CancellationToken ct) =>
            Results.Ok(new ReplayResult(await SalesFigures.ReplayAsync(db, ct))))
            .RequireAuthorization(MercatoAuth.AdminPolicy).Produces<ReplayResult>();

        analytics.MapGet("/trending", async (int? limit, AnalyticsDb db, CancellationToken ct) =>
            limit is < 1 or > 50
                ? Results.ValidationProblem(new Dictionary<string, string[]> { ["limit"] = ["Between 1 and 50."] })
                : Results.Ok(await TrendingAsync(db, limit ?? 10, ct)))
            .Produces<List<ProductScore>>();

        analytics.MapGet("/recommendations", async (ClaimsPrincipal user, int? limit, AnalyticsDb db, CancellationToken ct) =>
        {
            if (limit is < 1 or > 50)
            {
                return Results.ValidationProblem(new Dictionary<string, string[]> { ["limit"] = ["Between 1 and 50."] });
            }
            var customerId = Guid.Parse(user.FindFirstValue(MercatoAuth.SubjectClaim)!);
            var bought = await db.CustomerPurchases.AsNoTracking().Where(p => p.CustomerId == customerId).Select(p => p.ProductId).ToListAsync(ct);
            // Pairs of the few products one customer bought: small enough to rank here.
            var pairs = await db.CoPurchases.AsNoTracking().Where(p => bought.Contains(p.ProductId) && !bought.Contains(p.BoughtWithId)).ToListAsync(ct);
            var together = pairs.GroupBy(p => p.BoughtWithId)
                .Select(g => new ProductScore(g.Key, g.Sum(p => p.Count)))
                .OrderByDescending(s => s.Score).ThenBy(s => s.ProductId).Take(limit ?? 10).ToList();
            return Results.Ok(new Recommendations(together.Count > 0 ? "bought-together" : "none", together));
        }).Produces<Recommendations>();
    }

    public static async Task<List<ProductScore>> TrendingAsync(AnalyticsDb db, int limit, CancellationToken ct) =>
        await db.ProductSales.AsNoTracking().OrderByDescending(s => s.Quantity).ThenBy(s => s.ProductId)
            .Take(limit).Select(s => new ProductScore(s.ProductId, s.Quantity)).ToListAsync(ct);
}
