using System.Security.Claims;
using System.Text.Json;
using Mercato.Basket.Data;
using Mercato.ServiceDefaults.Auth;
using Mercato.ServiceDefaults.Data;
using Mercato.ServiceDefaults.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;

namespace Mercato.Basket;

public sealed record BasketItem(Guid? ProductId, int? Quantity);

public sealed record BasketRequest(List<BasketItem>? Items);

/// <param name="Checkout">
/// A checkout of this basket that has not finished (ordering's answer never came): its lines, and the key a retry
/// needs. Until it is retried the basket cannot change; ordering answers the retry with the order it made, or makes it.
/// </param>
public sealed record BasketResponse(IReadOnlyList<BasketLineResponse> Items, PendingCheckout? Checkout = null);

/// <summary>A checkout left unfinished: a retry must send the same key and payment method (null: none was sent).</summary>
public sealed record PendingCheckout(string IdempotencyKey, IReadOnlyList<BasketLineResponse> Items, string? PaymentMethod);

public sealed record BasketLineResponse(Guid ProductId, int Quantity);

public sealed record CheckoutRequest(string? PaymentMethod);

/// <summary>Ordering's answer to a placed order, which checkout passes on as it came.</summary>
public sealed record CheckoutAccepted(Guid OrderId, string Status);

public static class BasketEndpoints
{
    public const int MaxLines = 50;
    public const int MaxQuantity = 1000;

    public static void MapBasketEndpoints(this WebApplication app)
    {
        var basket = app.MapGroup("/api/basket").WithTags("Basket");
        basket.MapGet("/", async (ClaimsPrincipal user, BasketDb db, CancellationToken ct) => Results.Ok(await ReadAsync(db, CustomerOf(user), ct)))
            .Produces<BasketResponse>();
        basket.MapPut("/", ReplaceAsync).Produces<BasketResponse>().ProducesProblem(StatusCodes.Status409Conflict);
        basket.MapPost("/checkout", CheckoutAsync)
            .Produces<CheckoutAccepted>(StatusCodes.Status202Accepted)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
    }

    private static Guid CustomerOf(ClaimsPrincipal user) => Guid.Parse(user.FindFirstValue(MercatoAuth.SubjectClaim)!);

    private static async Task<BasketResponse> ReadAsync(BasketDb db, Guid customerId, CancellationToken ct)
    {
        var lines = await db.Lines.AsNoTracking().Where(l => l.CustomerId == customerId).OrderBy(l => l.ProductId).ToListAsync(ct);
        var unfinished = await UnfinishedCheckout(db, customerId).AsNoTracking().FirstOrDefaultAsync(ct);
        return new BasketResponse([.. lines.Select(l => new BasketLineResponse(l.ProductId, l.Quantity))],
            unfinished is null ? null : new PendingCheckout(unfinished.IdempotencyKey, JsonSerializer.Deserialize<List<BasketLineResponse>>(unfinished.Items)!,
                unfinished.PaymentMethod));
    }

    private static IQueryable<BasketCheckout> UnfinishedCheckout(BasketDb db, Guid customerId) =>
        db.Checkouts.Where(c => c.CustomerId == customerId && c.ResponseStatus == null);

    private static IResult CheckoutInProgress(string? key) => Results.Problem(statusCode: StatusCodes.Status409Conflict, title: "Checkout in progress",
        detail: $"A checkout of this basket has not finished (Idempotency-Key '{key}'); retry that key to finish it.",
        extensions: new Dictionary<string, object?> { ["idempotencyKey"] = key });

    private static async Task<IResult> ReplaceAsync(BasketRequest request, ClaimsPrincipal user, BasketDb db, CatalogClient catalog,
        ILogger<CatalogClient> logger, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        if (request.Items is null || request.Items.Count > MaxLines)
        {
            errors["items"] = [$"Required, at most {MaxLines} items (an empty list empties the basket)."];
        }
        else
        {
            for (var i = 0; i < request.Items.Count; i++)
            {
                if (request.Items[i]?.ProductId is not { } id || id == Guid.Empty)
                {
                    errors[$"items[{i}].productId"] = ["Required."];
                }
                if (request.Items[i]?.Quantity is not (>= 1 and <= MaxQuantity))
                {
                    errors[$"items[{i}].quantity"] = [$"Between 1 and {MaxQuantity}."];
                }
            }
        }
        if (errors.Count == 0)
        {
            MergedLineQuantities.Check(request.Items!, line => line!.ProductId, line => line!.Quantity, MaxQuantity, errors);
        }
        var customerId = CustomerOf(user);
        if (errors.Count == 0)
        {
            await CheckProductsAsync(request.Items!, customerId, db, catalog, logger, errors, ct);
        }
        if (errors.Count > 0)
        {
            return Results.ValidationProblem(errors);
        }
        var lines = request.Items!.GroupBy(i => i.ProductId!.Value)
            .Select(g => new BasketLineResponse(g.Key, g.Sum(i => i.Quantity!.Value))).OrderBy(l => l.ProductId).ToList();
        // Delete and insert in one transaction that holds the customer's basket, so concurrent replacements of one basket
        // do not interleave (the last one wins whole) and a checkout taking the basket waits for it.
        await using var transaction = await db.Database.BeginTransactionAsync(ct);
        await HoldBasketAsync(db, customerId, ct);
        await db.Lines.Where(l => l.CustomerId == customerId).ExecuteDeleteAsync(ct);
        if (await UnfinishedCheckout(db, customerId).Select(c => c.IdempotencyKey).FirstOrDefaultAsync(ct) is { } unfinished)
        {
            await transaction.RollbackAsync(ct);
            return CheckoutInProgress(unfinished);
        }
        db.Lines.AddRange(lines.Select(l => new BasketLine { CustomerId = customerId, ProductId = l.ProductId, Quantity = l.Quantity }));
        await db.SaveChangesAsync(ct);
        await transaction.CommitAsync(ct);
        return Results.Ok(new BasketResponse(lines));
    }

    /// <summary>
    /// The first statement of every transaction that writes a customer's basket or checkouts: such transactions take
    /// turns per customer. On SQLite the delete or insert that follows takes the file's only write lock anyway.
    /// </summary>
    private static Task HoldBasketAsync(BasketDb db, Guid customerId, CancellationToken ct) =>
        db.TakeTurnOnAsync($"basket:{customerId}", ct);

    /// <summary>
    /// Products new to this basket must be in the catalog; lines already in it were checked when they were added. When
    /// the catalog cannot answer, the lines are taken unchecked: ordering prices every product again at checkout, and a
    /// basket that keeps working while the catalog is down beats one that refuses every change.
    /// </summary>
    private static async Task CheckProductsAsync(List<BasketItem> items, Guid customerId, BasketDb db, CatalogClient catalog,
        ILogger<CatalogClient> logger, Dictionary<string, string[]> errors, CancellationToken ct)
    {
        var held = await db.Lines.AsNoTracking().Where(l => l.CustomerId == customerId).Select(l => l.ProductId).ToListAsync(ct);
        IReadOnlySet<Guid> unknown = new HashSet<Guid>();
        try
        {
            // No call at all when nothing is new.
            unknown = await catalog.UnknownAsync([.. items.Select(i => i.ProductId!.Value).Distinct().Except(held)], ct);
        }
        catch (Exception ex) when (Downstream.IsUnavailable(ex, ct))
        {
            logger.LogWarning("Catalog unavailable; basket lines taken without checking their products: {Error}", ex.Message);
        }
        for (var i = 0; i < items.Count; i++)
        {
            if (unknown.Contains(items[i].ProductId!.Value))
            {
                errors[$"items[{i}].productId"] = [$"No product {items[i].ProductId} in the catalog."];
            }
        }
    }

    /// <summary>
    /// Checkout takes the basket's lines into a checkout record before it asks ordering, so two checkouts with different
    /// keys cannot both order one basket (the second is a 409 naming the first's key), and records ordering's answer, so
    /// a retry with the same key gets it again even after the basket was emptied or filled anew. A checkout that got no
    /// answer (ordering too slow, a crash) stays in progress, shown by <c>GET /api/basket</c> with its key, until it is
    /// retried with that key; meanwhile the basket cannot change.
    /// </summary>
    private static async Task<IResult> CheckoutAsync(
        CheckoutRequest? request, [FromHeader(Name = IdempotencyKeyHeader.Name)] string? idempotencyKey, HttpContext http,
        BasketDb db, OrderingClient ordering, ILogger<OrderingClient> logger, TimeProvider time, CancellationToken ct)
    {
        if (IdempotencyKeyHeader.Problem(idempotencyKey) is { } keyProblem)
        {
            return Results.ValidationProblem(new Dictionary<string, string[]> { [IdempotencyKeyHeader.Name] = [keyProblem] });
        }
        if (!PaymentMethodToken.IsAcceptable(request?.PaymentMethod))
        {
            return Results.ValidationProblem(new Dictionary<string, string[]> { ["paymentMethod"] = [PaymentMethodToken.Rule] });
        }
        var key = idempotencyKey!;
        var customerId = CustomerOf(http.User);
        var requestHash = Fingerprint(request);
        var startedAt = time.GetUtcNow();
        var checkout = await FindCheckoutAsync(db, customerId, key, ct);
        // Only a checkout this request took may give its lines back when ordering cannot be reached: a retry of one
        // left unfinished cannot know whether an earlier attempt placed the order.
        var takenHere = false;
        if (checkout is null)
        {
            var (taken, refusal, byThisRequest) = await TakeBasketAsync(db, customerId, key, requestHash, PaymentMethodOf(request), ct);
            if (refusal is not null)
            {
                return refusal;
            }
            (checkout, takenHere) = (taken!, byThisRequest);
        }
        // A key names one checkout request: sent again with another payment method it is refused.
        if (checkout.RequestHash is not null && checkout.RequestHash != requestHash)
        {
            return IdempotencyKeyHeader.Reused("Already used for a checkout with a different payment method. A new checkout needs a new key.");
        }
        if (checkout.ResponseStatus is { } answered)
        {
            IdempotencyKeyHeader.MarkReplayed(http.Response);
            return PlacedAnswer(http.Response, answered, checkout.ResponseBody!, checkout.ResponseContentType!);
        }

        var items = JsonSerializer.Deserialize<List<BasketLineResponse>>(checkout.Items)!;
        var token = http.Request.Headers.Authorization.ToString()["Bearer ".Length..].Trim();
        // Once the lines are taken, ordering's answer is seen through and recorded even if the customer goes away
        // meanwhile: an abandoned call would leave the checkout in progress and the lines out of the basket. The sidecar
        // pipeline's timeouts bound the wait.
        HttpResponseMessage placed;
        try
        {
            placed = await ordering.PlaceOrderAsync(token, key,
                new { items = items.Select(i => new { productId = i.ProductId, quantity = i.Quantity }), paymentMethod = request?.PaymentMethod }, CancellationToken.None);
        }
        catch (Exception ex) when (Downstream.IsUnavailable(ex, CancellationToken.None) && Downstream.NeverSent(ex) && takenHere)
        {
            logger.LogWarning("Ordering unavailable at checkout: {Error}", ex.Message);
            await ReturnToBasketAsync(db, checkout, items, CancellationToken.None);
            return Downstream.UnavailableProblem(http.Response, "Ordering unavailable",
                "The order was not placed; the basket is kept. Retry with the same Idempotency-Key.");
        }
        catch (Exception ex) when (Downstream.IsUnavailable(ex, CancellationToken.None))
        {
            // The request, or an earlier attempt with this key, may have reached ordering and the order may exist. Giving
            // the lines back would let a checkout with a new key order them a second time, so the checkout stays in
            // progress with its lines; a retry with its key finishes it (ordering answers a repeated key with the order
            // it made, or makes it now).
            logger.LogWarning("No answer from ordering at checkout {Key}: {Error}", key, ex.Message);
            return CheckoutNotFinished(http, key, "Ordering did not answer, so the order may have been placed.");
        }
        using (placed)
        {
            var body = await placed.Content.ReadAsStringAsync(CancellationToken.None);
            var contentType = placed.Content.Headers.ContentType?.ToString() ?? "application/json";
            var replayed = placed.Headers.TryGetValues(IdempotencyKeyHeader.ReplayedHeader, out var flags) && flags.Contains("true");
            var outcomeUnknown = (int)placed.StatusCode >= 500 && UncertainOutcome.IsNamedIn(body);
            if (placed.IsSuccessStatusCode && replayed && takenHere && OrderedBefore(body, startedAt - ClockSkew))
            {
                // This checkout is new, yet ordering answers with an order made before it began: a checkout answered long
                // enough ago that this basket no longer keeps it (ordering keeps its keys with the orders). Recording that
                // old order as this checkout's answer would take the lines and order nothing; they go back, and the key
                // is refused. (An order made since is this checkout's own, placed by a retry racing it.)
                await ReturnToBasketAsync(db, checkout, items, CancellationToken.None);
                return IdempotencyKeyHeader.Reused(
                    "Already used for an order placed more than the checkout retention ago (see GET /api/orders). A new checkout needs a new key.");
            }
            if (replayed)
            {
                IdempotencyKeyHeader.MarkReplayed(http.Response);
            }
            if (placed.IsSuccessStatusCode)
            {
                var answeredAt = time.GetUtcNow().UtcTicks;
                try
                {
                    var recorded = await CheckoutOf(db, customerId, key).Where(c => c.ResponseStatus == null)
                        .ExecuteUpdateAsync(c => c.SetProperty(x => x.ResponseStatus, (int)placed.StatusCode)
                            .SetProperty(x => x.ResponseBody, body).SetProperty(x => x.ResponseContentType, contentType)
                            .SetProperty(x => x.AnsweredAtTicks, answeredAt), CancellationToken.None);
                    if (recorded == 0 && !await CheckoutOf(db, customerId, key).AnyAsync(CancellationToken.None))
                    {
                        // Another attempt with this key failed meanwhile and gave the lines back, while this one placed the
                        // order: they leave the basket again, or a checkout with a new key would order them a second time.
                        await TakeBackAnsweredAsync(db, checkout, items, (int)placed.StatusCode, body, contentType, answeredAt);
                    }
                }
                catch (Exception ex) when (DatabaseErrors.IsTransientFailure(ex))
                {
                    // The order is placed; only basket's record of it failed. "Nothing was changed" would be false: the
                    // checkout stays unfinished, and a retry with its key gets the order from ordering and records it.
                    logger.LogWarning("Checkout {Key} placed its order but could not record the answer: {Error}", key, ex.GetBaseException().Message);
                    return CheckoutNotFinished(http, key, "The order was placed, but the basket could not record it.");
                }
            }
            else if ((int)placed.StatusCode < 500 || (takenHere && !outcomeUnknown))
            {
                // Ordering refused the order (a product gone, a payment method unknown), or failed on the first attempt
                // with this key before saving anything: ordering looks a key up before anything else, so no order was
                // made. The lines go back.
                await ReturnToBasketAsync(db, checkout, items, CancellationToken.None);
            }
            else if (outcomeUnknown)
            {
                // Ordering's database failed while saving the order, perhaps after committing it: giving the lines back
                // would let a checkout with a new key order them twice. The same key settles it.
                logger.LogWarning("Ordering could not tell whether checkout {Key} placed its order", key);
                return CheckoutNotFinished(http, key, "Ordering could not tell whether the order was saved.");
            }
            else
            {
                // A retry that failed inside ordering (its database busy, the catalog down while the first attempt may
                // still be running there) tells nothing about that first attempt.
                logger.LogWarning("Ordering failed a retried checkout {Key} with {Status}", key, (int)placed.StatusCode);
                return CheckoutNotFinished(http, key, $"Ordering failed ({(int)placed.StatusCode}) on this retry, and an earlier attempt may have placed the order.");
            }
            if (!placed.IsSuccessStatusCode && placed.Headers.RetryAfter is { } retryAfter)
            {
                http.Response.Headers.RetryAfter = retryAfter.ToString();
            }
            return PlacedAnswer(http.Response, (int)placed.StatusCode, body, contentType);
        }
    }

    /// <summary>Ordering's answer as checkout's, with the Location of the order it names, as ordering gives it.</summary>
    private static IResult PlacedAnswer(HttpResponse response, int status, string body, string contentType)
    {
        if (status is >= 200 and < 300 && OrderIdIn(body) is { } orderId)
        {
            response.Headers.Location = $"/api/orders/{orderId}";
        }
        return Results.Content(body, contentType, statusCode: status);
    }

    private static Guid? OrderIdIn(string body)
    {
        try
        {
            using var answer = JsonDocument.Parse(body);
            return answer.RootElement.ValueKind == JsonValueKind.Object && answer.RootElement.TryGetProperty("orderId", out var id)
                && id.TryGetGuid(out var orderId) ? orderId : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>How far basket's clock and ordering's may disagree about when an order was made.</summary>
    private static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(1);

    /// <summary>Whether ordering's answer names an order made before <paramref name="cutoff"/> (its id is a version 7 Guid, timestamped).</summary>
    private static bool OrderedBefore(string body, DateTimeOffset cutoff)
    {
        if (OrderIdIn(body) is not { Version: 7 } orderId)
        {
            return false;
        }
        var unixMilliseconds = long.Parse(orderId.ToString("N")[..12], System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);
        return DateTimeOffset.FromUnixTimeMilliseconds(unixMilliseconds) < cutoff;
    }

    private static IResult CheckoutNotFinished(HttpContext http, string key, string why)
    {
        // Not an answer given before: ordering may have marked its own answer replayed, but that is not what this is.
        http.Response.Headers.Remove(IdempotencyKeyHeader.ReplayedHeader);
        // The same meaning as ordering's outcome-unknown answer, and its type: "Ordering unavailable" means nothing was placed.
        return UncertainOutcome.Problem(http.Response,
            $"Checkout not finished. {why} Retry with the same Idempotency-Key to finish this checkout; the basket cannot change until then.",
            new Dictionary<string, object?> { ["idempotencyKey"] = key });
    }

    /// <summary>What a checkout request asks for beyond the basket itself, hashed: its payment method, trimmed.</summary>
    private static string Fingerprint(CheckoutRequest? request) => IdempotencyKeyHeader.RequestHash(PaymentMethodOf(request) ?? "");

    private static string? PaymentMethodOf(CheckoutRequest? request) =>
        string.IsNullOrWhiteSpace(request?.PaymentMethod) ? null : request.PaymentMethod.Trim();

    private static IQueryable<BasketCheckout> CheckoutOf(BasketDb db, Guid customerId, string key) =>
        db.Checkouts.Where(c => c.CustomerId == customerId && c.IdempotencyKey == key);

    private static Task<BasketCheckout?> FindCheckoutAsync(BasketDb db, Guid customerId, string key, CancellationToken ct) =>
        CheckoutOf(db, customerId, key).AsNoTracking().SingleOrDefaultAsync(ct);

    /// <summary>Moves the basket's lines into a new checkout, in one transaction that holds the customer's basket.</summary>
    private static async Task<(BasketCheckout? Checkout, IResult? Refusal, bool TakenHere)> TakeBasketAsync(BasketDb db, Guid customerId, string key,
        string requestHash, string? paymentMethod, CancellationToken ct)
    {
        await using var transaction = await db.Database.BeginTransactionAsync(ct);
        await HoldBasketAsync(db, customerId, ct);
        var checkout = new BasketCheckout { CustomerId = customerId, IdempotencyKey = key, Items = "[]", RequestHash = requestHash, PaymentMethod = paymentMethod };
        db.Checkouts.Add(checkout);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException ex) when (DatabaseErrors.IsUniqueViolation(ex))
        {
            // The same key taken a moment ago by a concurrent request, or another checkout of this basket in progress.
            await transaction.RollbackAsync(ct);
            db.ChangeTracker.Clear();
            if (await FindCheckoutAsync(db, customerId, key, ct) is { } same)
            {
                return (same, null, false);
            }
            var other = await UnfinishedCheckout(db, customerId).AsNoTracking().Select(c => c.IdempotencyKey).FirstOrDefaultAsync(ct);
            return (null, CheckoutInProgress(other), false);
        }
        var lines = await db.Lines.Where(l => l.CustomerId == customerId).OrderBy(l => l.ProductId).ToListAsync(ct);
        if (lines.Count == 0)
        {
            await transaction.RollbackAsync(ct);
            return (null, Results.ValidationProblem(new Dictionary<string, string[]> { ["items"] = ["The basket is empty."] }), false);
        }
        checkout.Items = JsonSerializer.Serialize(lines.Select(l => new BasketLineResponse(l.ProductId, l.Quantity)));
        db.Lines.RemoveRange(lines);
        await db.SaveChangesAsync(ct);
        await transaction.CommitAsync(ct);
        return (checkout, null, true);
    }

    /// <summary>
    /// Records a checkout whose lines were given back as answered after all, and takes those lines out of the basket
    /// again: each line given back, unless the customer has changed it since.
    /// </summary>
    private static async Task TakeBackAnsweredAsync(BasketDb db, BasketCheckout checkout, List<BasketLineResponse> items,
        int status, string body, string contentType, long answeredAt)
    {
        db.ChangeTracker.Clear();
        await using var transaction = await db.Database.BeginTransactionAsync(CancellationToken.None);
        await HoldBasketAsync(db, checkout.CustomerId, CancellationToken.None);
        if (await CheckoutOf(db, checkout.CustomerId, checkout.IdempotencyKey).AnyAsync(CancellationToken.None))
        {
            return;
        }
        db.Checkouts.Add(new BasketCheckout
        {
            CustomerId = checkout.CustomerId,
            IdempotencyKey = checkout.IdempotencyKey,
            Items = checkout.Items,
            RequestHash = checkout.RequestHash,
            ResponseStatus = status,
            ResponseBody = body,
            ResponseContentType = contentType,
            AnsweredAtTicks = answeredAt,
        });
        var givenBack = await db.Lines.Where(l => l.CustomerId == checkout.CustomerId).ToListAsync(CancellationToken.None);
        db.Lines.RemoveRange(givenBack.Where(l => items.Contains(new BasketLineResponse(l.ProductId, l.Quantity))));
        await db.SaveChangesAsync(CancellationToken.None);
        await transaction.CommitAsync(CancellationToken.None);
    }

    /// <summary>
    /// Puts a failed checkout's lines back and ends it. A product the customer put in the basket again meanwhile keeps
    /// its new line.
    /// </summary>
    private static async Task ReturnToBasketAsync(BasketDb db, BasketCheckout checkout, List<BasketLineResponse> items, CancellationToken ct)
    {
        db.ChangeTracker.Clear();
        await using var transaction = await db.Database.BeginTransactionAsync(ct);
        await HoldBasketAsync(db, checkout.CustomerId, ct);
        // Only while unanswered: a concurrent request with the same key may have recorded ordering's 202 meanwhile.
        if (await CheckoutOf(db, checkout.CustomerId, checkout.IdempotencyKey).Where(c => c.ResponseStatus == null).ExecuteDeleteAsync(ct) == 0)
        {
            return;
        }
        var present = await db.Lines.Where(l => l.CustomerId == checkout.CustomerId).Select(l => l.ProductId).ToListAsync(ct);
        db.Lines.AddRange(items.Where(i => !present.Contains(i.ProductId))
            .Select(i => new BasketLine { CustomerId = checkout.CustomerId, ProductId = i.ProductId, Quantity = i.Quantity }));
        await db.SaveChangesAsync(ct);
        await transaction.CommitAsync(ct);
    }
}
