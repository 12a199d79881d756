using System.Text.Json;
using Mercato.Analytics.Data;
using Mercato.Contracts;
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
    public static async Task ApplyAsync(AnalyticsDb db, OrderConfirmed order)
    {
        var products = order.Lines.Select(l => l.ProductId).Distinct().ToList();
        foreach (var line in order.Lines)
        {
            var sales = await db.ProductSales.FindAsync(line.ProductId) ?? db.ProductSales.Add(new ProductSales { ProductId = line.ProductId }).Entity;
            sales.Quantity += line.Quantity;
            sales.Orders++;
            var mine = await db.CustomerPurchases.FindAsync(order.CustomerId, line.ProductId)
                ?? db.CustomerPurchases.Add(new CustomerPurchase { CustomerId = order.CustomerId, ProductId = line.ProductId }).Entity;
            mine.Quantity += line.Quantity;
        }
        foreach (var a in products)
        {
            foreach (var b in products.Where(b => b != a))
            {
                var pair = await db.CoPurchases.FindAsync(a, b) ?? db.CoPurchases.Add(new CoPurchase { ProductId = a, BoughtWithId = b }).Entity;
                pair.Count++;
            }
        }
    }

    /// <summary>Drops the derived figures and replays every confirmed order from the audit log.</summary>
    public static async Task<int> ReplayAsync(AnalyticsDb db, CancellationToken ct)
    {
        await using var transaction = await db.Database.BeginTransactionAsync(ct);
        await db.ProductSales.ExecuteDeleteAsync(ct);
        await db.CoPurchases.ExecuteDeleteAsync(ct);
        await db.CustomerPurchases.ExecuteDeleteAsync(ct);
        var confirmed = await db.Events.AsNoTracking().Where(e => e.Type == nameof(OrderConfirmed)).OrderBy(e => e.Sequence).ToListAsync(ct);
        foreach (var stored in confirmed)
        {
            await ApplyAsync(db, JsonSerializer.Deserialize<OrderConfirmed>(stored.Data, AuditHandler.Json)!);
            await db.SaveChangesAsync(ct);
        }
        await transaction.CommitAsync(ct);
        return confirmed.Count;
    }
}
