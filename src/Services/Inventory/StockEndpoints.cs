using Mercato.Inventory.Data;
using Mercato.ServiceDefaults.Auth;
using Mercato.ServiceDefaults.Data;
using Microsoft.EntityFrameworkCore;

namespace Mercato.Inventory;

public sealed record StockResponse(Guid ProductId, int OnHand, int Reserved, int Available)
{
    public static StockResponse From(StockItem item) => new(item.ProductId, item.OnHand, item.Reserved, item.Available);
}

public sealed record SetStockRequest(int? OnHand);

public static class StockEndpoints
{
    public const int MaxOnHand = 1_000_000;

    public static void MapStockEndpoints(this WebApplication app)
    {
        var items = app.MapGroup("/api/inventory/items").WithTags("Inventory");
        items.MapGet("/{productId}", GetAsync).Produces<StockResponse>().ProducesProblem(StatusCodes.Status404NotFound);
        items.MapPut("/{productId}", SetOnHandAsync).RequireAuthorization(MercatoAuth.AdminPolicy)
            .Produces<StockResponse>()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
    }

    private static async Task<IResult> GetAsync(Guid productId, InventoryDb db, CancellationToken ct)
    {
        var item = await db.StockItems.AsNoTracking().SingleOrDefaultAsync(i => i.ProductId == productId, ct);
        return item is null
            ? Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "No stock record",
                detail: $"Inventory does not track product {productId} yet.")
            : Results.Ok(StockResponse.From(item));
    }

    private static async Task<IResult> SetOnHandAsync(
        Guid productId, SetStockRequest request, InventoryDb db, CatalogClient catalog, TimeProvider time, ILogger<SetStockRequest> logger, HttpResponse response, CancellationToken ct)
    {
        if (request.OnHand is not (>= 0 and <= MaxOnHand))
        {
            return Results.ValidationProblem(new Dictionary<string, string[]> { ["onHand"] = [$"Required, between 0 and {MaxOnHand}."] });
        }
        var item = await db.StockItems.SingleOrDefaultAsync(i => i.ProductId == productId, ct);
        if (item is null)
        {
            bool exists;
            try
            {
                exists = await catalog.ProductExistsAsync(productId, ct);
            }
            catch (Exception ex) when (Mercato.ServiceDefaults.Http.Downstream.IsUnavailable(ex, ct))
            {
                logger.LogWarning("Catalog unavailable while checking product {ProductId}: {Error}", productId, ex.Message);
                return Mercato.ServiceDefaults.Http.Downstream.UnavailableProblem(response, "Catalog unavailable",
                    "Could not confirm that the product exists; try again shortly.");
            }
            if (!exists)
            {
                return Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Unknown product",
                    detail: $"The catalog has no product {productId}.", extensions: new Dictionary<string, object?> { ["field"] = "productId" });
            }
            item = new StockItem { ProductId = productId };
            db.StockItems.Add(item);
        }
        if (request.OnHand.Value < item.Reserved)
        {
            return Results.Problem(statusCode: StatusCodes.Status409Conflict, title: "Stock below reservations",
                detail: $"{item.Reserved} units are reserved; onHand cannot go below that.",
                extensions: new Dictionary<string, object?> { ["field"] = "onHand" });
        }
        item.OnHand = request.OnHand.Value;
        item.Version++;
        item.UpdatedAt = time.GetUtcNow();
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException ex) when (ex is DbUpdateConcurrencyException || DatabaseErrors.IsUniqueViolation(ex))
        {
            return Results.Problem(statusCode: StatusCodes.Status409Conflict, title: "Concurrent update",
                detail: "The stock of this product changed meanwhile; read it again and retry.");
        }
        return Results.Ok(StockResponse.From(item));
    }
}
