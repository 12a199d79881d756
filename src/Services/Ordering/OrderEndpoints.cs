using System.Security.Claims;
using Mercato.Contracts;
using Mercato.Ordering.Data;
using Mercato.Ordering.Domain;
using Mercato.ServiceDefaults.Auth;
using Mercato.ServiceDefaults.Data;
using Mercato.ServiceDefaults.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using Wolverine.EntityFrameworkCore;

namespace Mercato.Ordering;

public sealed record OrderItemRequest(Guid? ProductId, int? Quantity);

public sealed record PlaceOrderRequest(List<OrderItemRequest>? Items, string? PaymentMethod);

public sealed record OrderAccepted(Guid OrderId, string Status);

public sealed record OrderEventResponse(int Version, string Type, DateTimeOffset OccurredAt, object Data);

public sealed record RebuildResult(int Rebuilt);

public static class OrderEndpoints
{
    public const int MaxLines = 50;
    public const int MaxQuantity = 1000;
    public const string DefaultPaymentMethod = "tok_visa";
    public const string PreferHeader = "Prefer";
    public const string PreferenceAppliedHeader = "Preference-Applied";

    /// <summary>
    /// The longest a read is held for <c>Prefer: wait</c>: below the gateway's 30 s activity timeout for a proxied
    /// request that sends nothing, so a held request is answered by ordering, not cut off by the gateway.
    /// </summary>
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(20);

    /// <summary>The most orders one list answer holds, and how many it holds unless asked for fewer.</summary>
    public const int MaxListPageSize = 100;

    public static void MapOrderEndpoints(this WebApplication app)
    {
        var orders = app.MapGroup("/api/orders").WithTags("Ordering");
        orders.MapPost("/", PlaceAsync)
            .Produces<OrderAccepted>(StatusCodes.Status202Accepted)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        orders.MapGet("/", ListAsync).Produces<List<OrderView>>().ProducesValidationProblem();
        orders.MapGet("/{id}", GetAsync)
            .Produces<OrderView>().Produces(StatusCodes.Status304NotModified).ProducesProblem(StatusCodes.Status404NotFound);
        orders.MapGet("/{id}/events", EventsAsync).Produces<List<OrderEventResponse>>().ProducesProblem(StatusCodes.Status404NotFound);
        orders.MapPost("/admin/rebuild-projections", async (OrderingDb db, CancellationToken ct) =>
                Results.Ok(new RebuildResult(await OrderEventStore.RebuildProjectionsAsync(db, ct: ct))))
            .RequireAuthorization(MercatoAuth.AdminPolicy).Produces<RebuildResult>();
    }

    private static async Task<IResult> PlaceAsync(
        PlaceOrderRequest request,
        [FromHeader(Name = IdempotencyKeyHeader.Name)] string? idempotencyKey,
        ClaimsPrincipal user,
        CatalogClient catalog,
        PaymentClient payments,
        IDbContextOutbox<OrderingDb> outbox,
        OrderEventStore store,
        IOrderFlow flow,
        TimeProvider time,
        ILogger<OrderEventStore> logger,
        HttpResponse response,
        CancellationToken ct)
    {
        var errors = Validate(request, idempotencyKey);
        if (errors.Count > 0)
        {
            return Results.ValidationProblem(errors);
        }
        var customerId = Guid.Parse(user.FindFirstValue(MercatoAuth.SubjectClaim)!);
        var items = request.Items!;
        var paymentMethod = string.IsNullOrWhiteSpace(request.PaymentMethod) ? DefaultPaymentMethod : request.PaymentMethod.Trim();
        var fingerprint = Fingerprint(items, paymentMethod);
        var db = outbox.DbContext;
        if (await ExistingOrderAsync(db, customerId, idempotencyKey!, fingerprint, response, ct) is { } existing)
        {
            return existing;
        }

        System.Diagnostics.Activity.Current?.SetTag(Mercato.ServiceDefaults.Telemetry.SpanTags.UserId, customerId)
            .SetTag(Mercato.ServiceDefaults.Telemetry.SpanTags.ItemCount, items.Count);
        Dictionary<Guid, CatalogProduct> products;
        try
        {
            products = await catalog.FindAsync([.. items.Select(i => i.ProductId!.Value).Distinct()], ct);
        }
        catch (Exception ex) when (Mercato.ServiceDefaults.Http.Downstream.IsUnavailable(ex, ct))
        {
            logger.LogWarning("Catalog unavailable while pricing an order: {Error}", ex.Message);
            return Mercato.ServiceDefaults.Http.Downstream.UnavailableProblem(response, "Catalog unavailable",
                "Prices could not be read; nothing was ordered. Try again shortly.");
        }
        var unknown = items.Select((item, index) => (item, index)).Where(x => !products.ContainsKey(x.item.ProductId!.Value)).ToList();
        if (unknown.Count > 0)
        {
            return Results.ValidationProblem(unknown.ToDictionary(
                x => $"items[{x.index}].productId", x => new[] { $"No product {x.item.ProductId} in the catalog." }));
        }

        var lines = items
            .GroupBy(i => i.ProductId!.Value)
            .Select(g => new OrderLine(g.Key, g.Sum(i => i.Quantity!.Value), products[g.Key].Price))
            .ToList();
        var total = lines.Sum(l => l.UnitPrice * l.Quantity);
        if (await payments.CheckMethodAsync(paymentMethod, ct) is { Accepted: false } refused)
        {
            return Results.ValidationProblem(new Dictionary<string, string[]> { ["paymentMethod"] = [refused.Reason ?? "Unknown payment method."] });
        }
        var orderId = Guid.CreateVersion7();

        var submitted = new OrderEvent.Submitted(orderId, customerId, lines, total, paymentMethod, time.GetUtcNow());
        await store.AppendAsync(orderId, submitted);
        db.IdempotencyKeys.Add(new IdempotencyKey { CustomerId = customerId, Key = idempotencyKey!, OrderId = orderId, RequestHash = fingerprint });
        await flow.StartAsync(outbox, submitted);
        try
        {
            await outbox.SaveChangesAndFlushMessagesAsync(ct);
        }
        catch (DbUpdateException ex) when (DatabaseErrors.IsUniqueViolation(ex))
        {
            // The same key raced in from a concurrent request and won: answer as a retry of it is answered. Any other
            // failure goes on to the exception handler.
            db.ChangeTracker.Clear();
            if (await ExistingOrderAsync(db, customerId, idempotencyKey!, fingerprint, response, ct) is { } winner)
            {
                return winner;
            }
            throw;
        }
        catch (Exception ex) when (DatabaseErrors.IsTransientFailure(ex) && db.CommitStarted)
        {
            // A connection lost while committing may have lost only the answer: the order may exist. Basket must not give
            // the lines back on this one (a checkout with a new key would order them twice); the same key settles it. A
            // failure before the commit began (a busy database refusing the first write) goes on to the exception
            // handler: nothing was saved.
            logger.LogWarning("Placing order {OrderId} under key {Key} ended in a database failure: {Error}", orderId, idempotencyKey,
                ex.GetBaseException().Message);
            return UncertainOutcome.Problem(response, "The database failed while the order was being saved, so it may have been placed. Retry with the same Idempotency-Key: it answers with that order, or places it.");
        }
        return Results.Accepted($"/api/orders/{orderId}", new OrderAccepted(orderId, OrderStatus.Pending));
    }

    /// <summary>
    /// The order a key already placed, or null for a new key; a key sent again with a different request is refused
    /// (<see cref="IdempotencyKeyHeader.Reused"/>).
    /// </summary>
    private static async Task<IResult?> ExistingOrderAsync(OrderingDb db, Guid customerId, string key, string fingerprint, HttpResponse response,
        CancellationToken ct)
    {
        var known = await db.IdempotencyKeys.AsNoTracking().SingleOrDefaultAsync(k => k.CustomerId == customerId && k.Key == key, ct);
        if (known is null)
        {
            return null;
        }
        // Keys recorded before requests were fingerprinted have none; they keep answering with their order.
        if (known.RequestHash is not null && known.RequestHash != fingerprint)
        {
            return IdempotencyKeyHeader.Reused($"Already used for order {known.OrderId}, with different items or payment method. A new order needs a new key.");
        }
        var view = await new OrderEventStore(db).LoadViewAsync(known.OrderId, ct);
        IdempotencyKeyHeader.MarkReplayed(response);
        return Results.Accepted($"/api/orders/{known.OrderId}", new OrderAccepted(known.OrderId, view?.Status ?? OrderStatus.Pending));
    }

    /// <summary>
    /// The order, with its version as ETag. <c>Prefer: wait=N</c> (RFC 7240) holds the request up to N seconds (at most
    /// <see cref="MaxWait"/>) while the order is not Confirmed or Cancelled, or, with <c>If-None-Match</c>, while it is
    /// unchanged, whatever its status (a cancelled order's refund and stock release still change it): one request
    /// instead of a client polling. <c>If-None-Match</c> with the current version answers 304. An instance holds a
    /// bounded number of reads (<see cref="HeldReadLimits"/>); beyond it a read is answered at once, and the missing
    /// <c>Preference-Applied</c> header tells the client to poll instead.
    /// </summary>
    private static async Task<IResult> GetAsync(Guid id, HttpContext http, ClaimsPrincipal user, OrderEventStore store, OrderChanges changes,
        TimeProvider time, CancellationToken ct)
    {
        // Weak comparison, as RFC 9110 prescribes for If-None-Match; an unparsable header counts as absent.
        var ifNoneMatch = http.Request.GetTypedHeaders().IfNoneMatch;
        var wait = PreferredWait(http.Request.Headers[PreferHeader]);
        using var hold = wait > TimeSpan.Zero ? changes.TryHold(user.FindFirstValue(MercatoAuth.SubjectClaim) ?? "") : null;
        if (hold is null)
        {
            wait = TimeSpan.Zero;
        }
        var started = time.GetTimestamp();
        while (true)
        {
            // Subscribed before reading, so a change committed in between still wakes this request.
            using var subscription = wait > TimeSpan.Zero ? changes.Subscribe(id) : null;
            var view = await store.ReadCommittedViewAsync(id, ct);
            if (view is null || !MayRead(user, view.CustomerId))
            {
                return NotFound(id);
            }
            var etag = new EntityTagHeaderValue($"\"{view.Version}\"");
            var unchanged = ifNoneMatch.Any(tag => tag.Equals(EntityTagHeaderValue.Any) || tag.Compare(etag, useStrongComparison: false));
            var remaining = wait - time.GetElapsedTime(started);
            var settled = ifNoneMatch.Count > 0 ? !unchanged : view.Status is OrderStatus.Confirmed or OrderStatus.Cancelled;
            if (subscription is null || settled || remaining <= TimeSpan.Zero)
            {
                http.Response.Headers.ETag = etag.ToString();
                if (subscription is not null)
                {
                    http.Response.Headers[PreferenceAppliedHeader] = $"wait={wait.TotalSeconds:0}";
                }
                return unchanged ? Results.StatusCode(StatusCodes.Status304NotModified) : Results.Ok(view);
            }
            // Changes committed by another instance of ordering are not signalled here: read again now and then.
            await Task.WhenAny(subscription.Changed, Task.Delay(Min(remaining, OrderChanges.RecheckInterval), time, ct));
            ct.ThrowIfCancellationRequested();
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    /// <summary>
    /// The <c>wait</c> preference in seconds, capped at <see cref="MaxWait"/>; zero when there is none. A preference
    /// the server cannot read is ignored (RFC 7240 section 2), so a malformed one just means no wait.
    /// </summary>
    public static TimeSpan PreferredWait(StringValues prefer)
    {
        foreach (var header in prefer)
        {
            foreach (var preference in (header ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                var token = preference.Split(';', 2)[0];
                var equals = token.IndexOf('=', StringComparison.Ordinal);
                if (equals < 0 || !token[..equals].Trim().Equals("wait", StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }
                var value = token[(equals + 1)..].Trim().Trim('"');
                if (int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var seconds))
                {
                    return Min(TimeSpan.FromSeconds(seconds), MaxWait);
                }
                return TimeSpan.Zero;
            }
        }
        return TimeSpan.Zero;
    }

    /// <summary>The caller's orders, newest first, a page at a time (<c>?page=1&amp;pageSize=100</c> by default).</summary>
    private static async Task<IResult> ListAsync(int? page, int? pageSize, ClaimsPrincipal user, OrderingDb db, CancellationToken ct)
    {
        if (Paging.Problems(page, pageSize, MaxListPageSize) is { Count: > 0 } errors)
        {
            return Results.ValidationProblem(errors);
        }
        int p = page ?? 1, size = pageSize ?? MaxListPageSize;
        var customerId = Guid.Parse(user.FindFirstValue(MercatoAuth.SubjectClaim)!);
        var documents = await db.Orders.AsNoTracking().Where(o => o.CustomerId == customerId)
            .OrderByDescending(o => o.CreatedAtTicks).ThenByDescending(o => o.Id)
            .Skip((p - 1) * size).Take(size).Select(o => o.Json).ToListAsync(ct);
        return Results.Ok(documents.Select(json => System.Text.Json.JsonSerializer.Deserialize<OrderView>(json, OrderEventStore.Json)));
    }

    private static async Task<IResult> EventsAsync(Guid id, ClaimsPrincipal user, OrderEventStore store, CancellationToken ct)
    {
        var view = await store.LoadViewAsync(id, ct);
        if (view is null || !MayRead(user, view.CustomerId))
        {
            return NotFound(id);
        }
        var stream = await store.ReadStreamAsync(id, ct);
        return Results.Ok(stream.Select(e => new OrderEventResponse(e.Stored.Version, e.Stored.Type, e.Stored.OccurredAt, e.Event)));
    }

    private static bool MayRead(ClaimsPrincipal user, Guid owner) =>
        user.IsInRole(MercatoAuth.AdminRole) || user.FindFirstValue(MercatoAuth.SubjectClaim) == owner.ToString();

    private static IResult NotFound(Guid id) =>
        Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Order not found", detail: $"No order {id} visible to you.");

    /// <summary>
    /// What an order asks for, whatever the JSON's formatting, the order of its lines or how a product's quantity is
    /// split over lines: the merged quantities by product and the payment method, hashed.
    /// </summary>
    private static string Fingerprint(List<OrderItemRequest> items, string paymentMethod)
    {
        var canonical = string.Join(';', items
            .GroupBy(i => i.ProductId!.Value)
            .OrderBy(g => g.Key)
            .Select(g => $"{g.Key:N}:{g.Sum(i => i.Quantity!.Value)}")) + "|" + paymentMethod;
        return IdempotencyKeyHeader.RequestHash(canonical);
    }

    private static Dictionary<string, string[]> Validate(PlaceOrderRequest request, string? idempotencyKey)
    {
        var errors = new Dictionary<string, string[]>();
        if (IdempotencyKeyHeader.Problem(idempotencyKey) is { } keyProblem)
        {
            errors[IdempotencyKeyHeader.Name] = [keyProblem];
        }
        if (request.Items is not { Count: > 0 and <= MaxLines })
        {
            errors["items"] = [$"Between 1 and {MaxLines} items."];
        }
        else
        {
            for (var i = 0; i < request.Items.Count; i++)
            {
                var item = request.Items[i];
                if (item?.ProductId is not { } productId || productId == Guid.Empty)
                {
                    errors[$"items[{i}].productId"] = ["Required."];
                }
                if (item?.Quantity is not (>= 1 and <= MaxQuantity))
                {
                    errors[$"items[{i}].quantity"] = [$"Between 1 and {MaxQuantity}."];
                }
            }
            if (errors.Count == 0)
            {
                MergedLineQuantities.Check(request.Items, line => line!.ProductId, line => line!.Quantity, MaxQuantity, errors);
            }
        }
        if (!PaymentMethodToken.IsAcceptable(request.PaymentMethod))
        {
            errors["paymentMethod"] = [PaymentMethodToken.Rule];
        }
        return errors;
    }
}
