using System.Security.Claims;
using Mercato.Basket.Data;
using Mercato.ServiceDefaults.Auth;
using Mercato.ServiceDefaults.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;

namespace Mercato.Basket;

public sealed record BasketItem(Guid? ProductId, int? Quantity);

public sealed record BasketRequest(List<BasketItem>? Items);

public sealed record BasketResponse(IReadOnlyList<BasketLineResponse> Items);

public sealed record BasketLineResponse(Guid ProductId, int Quantity);

public sealed record CheckoutRequest(string? PaymentMethod);

public static class BasketEndpoints
{
    public const int MaxLines = 50;
    public const int MaxQuantity = 1000;

    public static void MapBasketEndpoints(this WebApplication app)
    {
        var basket = app.MapGroup("/api/basket").WithTags("Basket");
        basket.MapGet("/", async (ClaimsPrincipal user, BasketDb db, CancellationToken ct) => Results.Ok(await ReadAsync(db, CustomerOf(user), ct)));
        basket.MapPut("/", ReplaceAsync);
        basket.MapPost("/checkout", CheckoutAsync);
    }

    private static Guid CustomerOf(ClaimsPrincipal user) => Guid.Parse(user.FindFirstValue(MercatoAuth.SubjectClaim)!);

    private static async Task<BasketResponse> ReadAsync(BasketDb db, Guid customerId, CancellationToken ct)
    {
        var lines = await db.Lines.AsNoTracking().Where(l => l.CustomerId == customerId).OrderBy(l => l.ProductId).ToListAsync(ct);
        return new BasketResponse([.. lines.Select(l => new BasketLineResponse(l.ProductId, l.Quantity))]);
    }

    private static async Task<IResult> ReplaceAsync(BasketRequest request, ClaimsPrincipal user, BasketDb db, CancellationToken ct)
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
        if (errors.Count > 0)
        {
            return Results.ValidationProblem(errors);
        }
        var customerId = CustomerOf(user);
        var lines = request.Items!.GroupBy(i => i.ProductId!.Value)
            .Select(g => new BasketLineResponse(g.Key, g.Sum(i => i.Quantity!.Value))).OrderBy(l => l.ProductId).ToList();
        // Delete and insert in one transaction, so concurrent replacements of one basket do not interleave: the last
        // one wins whole. The delete comes first and takes SQLite's write lock; on PostgreSQL a replacement that
        // committed in between surfaces as a key conflict, and the whole replacement runs again.
        for (var attempt = 1; ; attempt++)
        {
            await using var transaction = await db.Database.BeginTransactionAsync(ct);
            try
            {
                await db.Lines.Where(l => l.CustomerId == customerId).ExecuteDeleteAsync(ct);
                db.Lines.AddRange(lines.Select(l => new BasketLine { CustomerId = customerId, ProductId = l.ProductId, Quantity = l.Quantity }));
                await db.SaveChangesAsync(ct);
                await transaction.CommitAsync(ct);
                return Results.Ok(new BasketResponse(lines));
            }
            catch (DbUpdateException) when (attempt < 3)
            {
                await transaction.RollbackAsync(ct);
                db.ChangeTracker.Clear();
            }
        }
    }

    private static async Task<IResult> CheckoutAsync(
        CheckoutRequest? request, [FromHeader(Name = IdempotencyKeyHeader.Name)] string? idempotencyKey, HttpContext http,
        BasketDb db, OrderingClient ordering, ILogger<OrderingClient> logger, CancellationToken ct)
    {
        if (IdempotencyKeyHeader.Problem(idempotencyKey) is { } keyProblem)
        {
            return Results.ValidationProblem(new Dictionary<string, string[]> { [IdempotencyKeyHeader.Name] = [keyProblem] });
        }
        var customerId = CustomerOf(http.User);
        var basket = await ReadAsync(db, customerId, ct);
        if (basket.Items.Count == 0)
        {
            return Results.ValidationProblem(new Dictionary<string, string[]> { ["items"] = ["The basket is empty."] });
        }
        var token = http.Request.Headers.Authorization.ToString()["Bearer ".Length..].Trim();
        HttpResponseMessage placed;
        try
        {
            placed = await ordering.PlaceOrderAsync(token, idempotencyKey!,
                new { items = basket.Items.Select(i => new { productId = i.ProductId, quantity = i.Quantity }), paymentMethod = request?.PaymentMethod }, ct);
        }
        catch (Exception ex) when (Mercato.ServiceDefaults.Http.Downstream.IsUnavailable(ex, ct))
        {
            logger.LogWarning("Ordering unavailable at checkout: {Error}", ex.Message);
            return Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Ordering unavailable",
                detail: "The order could not be placed; the basket is kept. Retry with the same Idempotency-Key.");
        }
        using (placed)
        {
            var body = await placed.Content.ReadAsStringAsync(ct);
            if (placed.IsSuccessStatusCode)
            {
                // Only now is the basket emptied; a retry with the same key returns the same order.
                await db.Lines.Where(l => l.CustomerId == customerId).ExecuteDeleteAsync(ct);
            }
            return Results.Content(body, placed.Content.Headers.ContentType?.ToString() ?? "application/json", statusCode: (int)placed.StatusCode);
        }
    }
}
