using Mercato.Contracts;
using Mercato.Inventory.Data;
using Microsoft.EntityFrameworkCore;

namespace Mercato.Inventory;

/// <summary>
/// The inventory side of the order saga. Each step is idempotent per order: the reservation rows (unique per order and
/// product) remember what was done, so a redelivered command gets the same answer and moves no stock twice. Two orders
/// racing for the last units cannot both win: the stock row's version is checked on save and the loser is retried.
/// </summary>
public static class ReservationHandler
{
    public static Task<object> Handle(ReserveStock command, InventoryDb db, TimeProvider time) => ReserveAsync(command, db, time);

    /// <summary>Choreography: remember what an announced order needs; it is reserved once paid.</summary>
    public static async Task Handle(OrderSubmitted order, InventoryDb db)
    {
        var known = await db.PendingOrders.FindAsync(order.OrderId);
        if (known is null)
        {
            db.PendingOrders.Add(new PendingOrder { OrderId = order.OrderId, LinesJson = System.Text.Json.JsonSerializer.Serialize(order.Lines) });
        }
        else if (known.LinesJson == "[]")
        {
            known.LinesJson = System.Text.Json.JsonSerializer.Serialize(order.Lines);
        }
    }

    /// <summary>Choreography: the payment went through, so hold the stock.</summary>
    public static async Task<object> Handle(PaymentCaptured captured, InventoryDb db, TimeProvider time)
    {
        var pending = await db.PendingOrders.FindAsync(captured.OrderId);
        if (pending is { Cancelled: true })
        {
            return new StockReservationFailed(captured.OrderId, "The order was cancelled.");
        }
        if (pending is null || pending.LinesJson == "[]")
        {
            throw new Mercato.ServiceDefaults.Messaging.NotYetKnownException($"Order {captured.OrderId} was not announced here yet.");
        }
        var lines = System.Text.Json.JsonSerializer.Deserialize<List<OrderLine>>(pending.LinesJson)!;
        return await ReserveAsync(new ReserveStock(captured.OrderId, lines), db, time);
    }

    /// <summary>Choreography: a confirmed order's units leave the stock.</summary>
    public static Task Handle(OrderConfirmed confirmed, InventoryDb db, TimeProvider time) =>
        Settle(confirmed.OrderId, ReservationStatus.Committed, db, time);

    /// <summary>Choreography: a cancelled order's units go back.</summary>
    public static Task<StockReleased> Handle(OrderCancelled cancelled, InventoryDb db, TimeProvider time) => ReleaseAsync(cancelled.OrderId, db, time);

    /// <remarks>
    /// The order's row is claimed first (an update that writes nothing new, or an insert): a release of the same order
    /// claims it too before it looks for held units, so one of the two waits for the other. Without it, on PostgreSQL, a
    /// reservation and a release running at once each missed what the other wrote: the release found nothing held, the
    /// reservation did not see the cancellation, and the units stayed held for a cancelled order.
    /// </remarks>
    private static async Task<object> ReserveAsync(ReserveStock command, InventoryDb db, TimeProvider time)
    {
        var claimed = await db.PendingOrders.Where(p => p.OrderId == command.OrderId && !p.Cancelled)
            .ExecuteUpdateAsync(p => p.SetProperty(x => x.Cancelled, false));
        if (claimed == 0)
        {
            if (await db.PendingOrders.AnyAsync(p => p.OrderId == command.OrderId))
            {
                return new StockReservationFailed(command.OrderId, "The order was cancelled.");
            }
            // Orchestration announces no order here: the row is created now (a release racing to create it breaks its key,
            // and the loser is retried).
            db.PendingOrders.Add(new PendingOrder { OrderId = command.OrderId, LinesJson = System.Text.Json.JsonSerializer.Serialize(command.Lines) });
        }
        var existing = await db.Reservations.Where(r => r.OrderId == command.OrderId).ToListAsync();
        if (existing.Count > 0)
        {
            return existing.All(r => r.Status != ReservationStatus.Released)
                ? new StockReserved(command.OrderId)
                : new StockReservationFailed(command.OrderId, "The reservation was already released.");
        }
        var wanted = command.Lines.GroupBy(l => l.ProductId).ToDictionary(g => g.Key, g => g.Sum(l => l.Quantity));
        var items = await db.StockItems.Where(i => wanted.Keys.Contains(i.ProductId)).ToDictionaryAsync(i => i.ProductId);
        foreach (var (productId, quantity) in wanted)
        {
            if (!items.TryGetValue(productId, out var item) || item.Available < quantity)
            {
                return new StockReservationFailed(command.OrderId,
                    $"Insufficient stock for product {productId}: {quantity} wanted, {item?.Available ?? 0} available.");
            }
        }
        var now = time.GetUtcNow();
        foreach (var (productId, quantity) in wanted)
        {
            var item = items[productId];
            item.Reserved += quantity;
            item.Version++;
            item.UpdatedAt = now;
            db.Reservations.Add(new Reservation
            {
                Id = Guid.CreateVersion7(),
                OrderId = command.OrderId,
                ProductId = productId,
                Quantity = quantity,
                Status = ReservationStatus.Reserved,
                CreatedAt = now,
                UpdatedAt = now,
            });
        }
        return new StockReserved(command.OrderId);
    }

    public static Task<StockReleased> Handle(ReleaseStock command, InventoryDb db, TimeProvider time) => ReleaseAsync(command.OrderId, db, time);

    /// <summary>
    /// Gives held units back and remembers the cancellation, so a late reservation for this order is refused. Answers
    /// every time (a repeat has nothing left to give back), so ordering can show the compensation as done.
    /// </summary>
    private static async Task<StockReleased> ReleaseAsync(Guid orderId, InventoryDb db, TimeProvider time)
    {
        // Claims the order's row before looking for held units: a reservation of this order running at the same moment
        // has claimed it first (then this waits, and finds its units) or finds the order cancelled (see ReserveAsync).
        if (await db.PendingOrders.Where(p => p.OrderId == orderId).ExecuteUpdateAsync(p => p.SetProperty(x => x.Cancelled, true)) == 0)
        {
            db.PendingOrders.Add(new PendingOrder { OrderId = orderId, LinesJson = "[]", Cancelled = true });
        }
        await Settle(orderId, ReservationStatus.Released, db, time);
        return new StockReleased(orderId);
    }

    public static Task Handle(CommitStock command, InventoryDb db, TimeProvider time) =>
        Settle(command.OrderId, ReservationStatus.Committed, db, time);

    /// <summary>Turns held units into a release (back to available) or a commit (gone from stock). Only once.</summary>
    private static async Task Settle(Guid orderId, ReservationStatus outcome, InventoryDb db, TimeProvider time)
    {
        var held = await db.Reservations.Where(r => r.OrderId == orderId && r.Status == ReservationStatus.Reserved).ToListAsync();
        if (held.Count == 0)
        {
            return;
        }
        var productIds = held.Select(r => r.ProductId).ToList();
        var items = await db.StockItems.Where(i => productIds.Contains(i.ProductId)).ToDictionaryAsync(i => i.ProductId);
        var now = time.GetUtcNow();
        foreach (var reservation in held)
        {
            var item = items[reservation.ProductId];
            item.Reserved -= reservation.Quantity;
            if (outcome == ReservationStatus.Committed)
            {
                item.OnHand -= reservation.Quantity;
            }
            item.Version++;
            item.UpdatedAt = now;
            reservation.Status = outcome;
            reservation.UpdatedAt = now;
        }
    }
}
