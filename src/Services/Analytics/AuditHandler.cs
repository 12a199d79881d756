using System.Text.Json;
using Mercato.Analytics.Data;
using Mercato.Contracts;
using Mercato.ServiceDefaults.Data;
using Microsoft.EntityFrameworkCore;
using Wolverine;

namespace Mercato.Analytics;

/// <summary>
/// Subscribes to every integration event (choreography: nobody calls Analytics) and appends it to the audit log, once
/// per message id. Confirmed orders also feed the sales figures behind trending products and "bought together".
/// </summary>
public static class AuditHandler
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static Task Handle(OrderSubmitted e, Envelope envelope, AnalyticsDb db) => Record(db, envelope, e, e.OrderId, e.SubmittedAt);

    public static Task Handle(PaymentCaptured e, Envelope envelope, AnalyticsDb db) => Record(db, envelope, e, e.OrderId);

    public static Task Handle(PaymentDeclined e, Envelope envelope, AnalyticsDb db) => Record(db, envelope, e, e.OrderId);

    public static Task Handle(PaymentRefunded e, Envelope envelope, AnalyticsDb db) => Record(db, envelope, e, e.OrderId);

    public static Task Handle(StockReserved e, Envelope envelope, AnalyticsDb db) => Record(db, envelope, e, e.OrderId);

    public static Task Handle(StockReservationFailed e, Envelope envelope, AnalyticsDb db) => Record(db, envelope, e, e.OrderId);

    public static Task Handle(OrderCancelled e, Envelope envelope, AnalyticsDb db) => Record(db, envelope, e, e.OrderId, e.CancelledAt);

    public static async Task Handle(OrderConfirmed e, Envelope envelope, AnalyticsDb db)
    {
        if (await Record(db, envelope, e, e.OrderId, e.ConfirmedAt))
        {
            await SalesFigures.ApplyAsync(db, e);
        }
    }

    /// <returns>false when this message was already recorded (redelivery).</returns>
    private static async Task<bool> Record(AnalyticsDb db, Envelope envelope, object message, Guid orderId, DateTimeOffset? occurredAt = null)
    {
        if (await db.Events.AnyAsync(x => x.MessageId == envelope.Id))
        {
            return false;
        }
        var at = occurredAt ?? envelope.SentAt;
        db.Events.Add(new AuditEvent
        {
            MessageId = envelope.Id,
            Type = message.GetType().Name,
            OrderId = orderId,
            Data = JsonSerializer.Serialize(message, message.GetType(), Json),
            OccurredAt = at,
            OccurredAtTicks = at.UtcTicks,
            Source = envelope.Source,
        });
        return true;
    }
}

/// <summary>Trending and bought-together figures, derived from confirmed orders only.</summary>
public static class SalesFigures
{
    /// <remarks>
    /// Counters are added to in the database (<c>SET quantity = quantity + n</c>), not read and written back: two
    /// confirmed orders of one product handled at once, by two handlers or two instances on PostgreSQL, would otherwise
    /// both write N + q and lose one. A row that does not exist yet is inserted; two first sales racing to insert it break
    /// its key and the message is retried. Rows are touched in key order, so two such transactions cannot deadlock.
    /// </remarks>
    public static async Task ApplyAsync(AnalyticsDb db, OrderConfirmed order)
    {
        var lines = LinesOf(order);
        foreach (var (productId, quantity) in lines)
        {
            if (await db.ProductSales.Where(s => s.ProductId == productId)
                    .ExecuteUpdateAsync(s => s.SetProperty(x => x.Quantity, x => x.Quantity + quantity).SetProperty(x => x.Orders, x => x.Orders + 1)) == 0)
            {
                db.ProductSales.Add(new ProductSales { ProductId = productId, Quantity = quantity, Orders = 1 });
            }
            if (await db.CustomerPurchases.Where(p => p.CustomerId == order.CustomerId && p.ProductId == productId)
                    .ExecuteUpdateAsync(p => p.SetProperty(x => x.Quantity, x => x.Quantity + quantity)) == 0)
            {
                db.CustomerPurchases.Add(new CustomerPurchase { CustomerId = order.CustomerId, ProductId = productId, Quantity = quantity });
            }
        }
        foreach (var (a, b) in PairsOf(lines))
        {
            if (await db.CoPurchases.Where(p => p.ProductId == a && p.BoughtWithId == b)
                    .ExecuteUpdateAsync(p => p.SetProperty(x => x.Count, x => x.Count + 1)) == 0)
            {
                db.CoPurchases.Add(new CoPurchase { ProductId = a, BoughtWithId = b, Count = 1 });
            }
        }
    }

    /// <summary>Every ordered pair of different products of one order: "a was bought with b".</summary>
    private static IEnumerable<(Guid ProductId, Guid BoughtWithId)> PairsOf(List<(Guid ProductId, int Quantity)> lines) =>
        lines.SelectMany(a => lines.Where(b => b.ProductId != a.ProductId).Select(b => (a.ProductId, b.ProductId)));

    /// <summary>An order's quantity per product, in product order (the order rows are touched in).</summary>
    private static List<(Guid ProductId, int Quantity)> LinesOf(OrderConfirmed order) =>
        [.. order.Lines.GroupBy(l => l.ProductId).Select(g => (ProductId: g.Key, Quantity: g.Sum(l => l.Quantity))).OrderBy(l => l.ProductId)];

    /// <summary>
    /// Drops the derived figures and computes them again from every confirmed order in the audit log: added up in memory
    /// in one pass over the log and written in one batch, where adding each order in SQL as it arrives took a statement
    /// per product and per pair of products of every order.
    /// </summary>
    public static async Task<int> ReplayAsync(AnalyticsDb db, CancellationToken ct)
    {
        await using var transaction = await db.Database.BeginTransactionAsync(ct);
        // A handler records an order and adds it to the figures in one transaction: on PostgreSQL, one committed between
        // the deletes and the read of the log would count twice. Handlers wait for the replay.
        await db.HoldWritersOffAsync(ct, "ProductSales", "CoPurchases", "CustomerPurchases");
        await db.ProductSales.ExecuteDeleteAsync(ct);
        await db.CoPurchases.ExecuteDeleteAsync(ct);
        await db.CustomerPurchases.ExecuteDeleteAsync(ct);
        var sales = new Dictionary<Guid, ProductSales>();
        var purchases = new Dictionary<(Guid Customer, Guid Product), CustomerPurchase>();
        var pairs = new Dictionary<(Guid Product, Guid BoughtWith), CoPurchase>();
        var replayed = 0;
        var confirmed = db.Events.AsNoTracking().Where(e => e.Type == nameof(OrderConfirmed)).OrderBy(e => e.Sequence).AsAsyncEnumerable();
        await foreach (var stored in confirmed.WithCancellation(ct))
        {
            var order = JsonSerializer.Deserialize<OrderConfirmed>(stored.Data, AuditHandler.Json)!;
            var lines = LinesOf(order);
            foreach (var (productId, quantity) in lines)
            {
                var sold = sales.TryGetValue(productId, out var s) ? s : sales[productId] = new ProductSales { ProductId = productId };
                sold.Quantity += quantity;
                sold.Orders++;
                var bought = purchases.TryGetValue((order.CustomerId, productId), out var p)
                    ? p : purchases[(order.CustomerId, productId)] = new CustomerPurchase { CustomerId = order.CustomerId, ProductId = productId };
                bought.Quantity += quantity;
            }
            foreach (var (a, b) in PairsOf(lines))
            {
                var pair = pairs.TryGetValue((a, b), out var c) ? c : pairs[(a, b)] = new CoPurchase { ProductId = a, BoughtWithId = b };
                pair.Count++;
            }
            replayed++;
        }
        db.ProductSales.AddRange(sales.Values);
        db.CustomerPurchases.AddRange(purchases.Values);
        db.CoPurchases.AddRange(pairs.Values);
        await db.SaveChangesAsync(ct);
        await transaction.CommitAsync(ct);
        return replayed;
    }
}
