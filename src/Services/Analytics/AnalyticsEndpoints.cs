using System.Security.Claims;
using System.Text.Json;
using Mercato.Analytics.Data;
using Mercato.ServiceDefaults.Auth;
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
            if (order is not (null or "asc" or "desc"))
            {
                return Results.ValidationProblem(new Dictionary<string, string[]> { ["order"] = ["'asc' (oldest first, the default) or 'desc' (newest first)."] });
            }
            if (from > to)
            {
                return Results.ValidationProblem(new Dictionary<string, string[]> { ["from"] = ["Must not be after 'to'."] });
            }
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
                query = query.Where(e => e.OccurredAtTicks >= start.UtcTicks);
            }
            if (to is { } end)
            {
                query = query.Where(e => e.OccurredAtTicks <= end.UtcTicks);
            }
            var ordered = order == "desc" ? query.OrderByDescending(e => e.Sequence) : query.OrderBy(e => e.Sequence);
            var events = await ordered.Take(limit ?? 200).ToListAsync(ct);
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
