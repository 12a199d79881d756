using Mercato.Contracts;
using Mercato.Inventory.Data;
using Mercato.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Wolverine;

namespace Mercato.Inventory.Tests;

/// <summary>
/// Choreography on PostgreSQL (scale-out profile), where a reservation and a release of one order can run at the same
/// moment (a backlog delivered after an outage, two instances) without SQLite's one writer at a time.
/// </summary>
public sealed class ConcurrentReleaseTests
{
    [SkippableFact]
    public async Task A_reservation_racing_the_orders_cancellation_never_leaves_units_held()
    {
        await using var database = await PostgresTestDatabase.CreateAsync("inventory_release");
        using var inventory = database.ScaleOutHost<Program>("inventory", ("Ordering:SagaStyle", "Choreography"));
        async Task DeliverAsync(object message)
        {
            await using var scope = inventory.Services.CreateAsyncScope();
            await scope.ServiceProvider.GetRequiredService<IMessageBus>().InvokeAsync(message);
        }
        // One product per order: the only race is between an order's own reservation and release.
        var orders = Enumerable.Range(0, 30).Select(_ => (OrderId: Guid.NewGuid(), ProductId: Guid.NewGuid())).ToList();
        await using (var scope = inventory.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<InventoryDb>();
            db.StockItems.AddRange(orders.Select(o => new StockItem { ProductId = o.ProductId, OnHand = 10, UpdatedAt = DateTimeOffset.UtcNow }));
            await db.SaveChangesAsync();
        }
        var customer = Guid.NewGuid();
        foreach (var (orderId, productId) in orders)
        {
            await DeliverAsync(new OrderSubmitted(orderId, customer, [new OrderLine(productId, 2, 1m)], 2m, "tok_visa", DateTimeOffset.UtcNow));
        }

        await Task.WhenAll(orders.Select(o => Task.WhenAll(
            DeliverAsync(new PaymentCaptured(o.OrderId, Guid.NewGuid(), 2m)),
            DeliverAsync(new OrderCancelled(o.OrderId, customer, "payment step timed out", DateTimeOffset.UtcNow)))));

        await using (var scope = inventory.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<InventoryDb>();
            var productIds = orders.Select(o => o.ProductId).ToList();
            Assert.Empty(await db.StockItems.AsNoTracking().Where(i => productIds.Contains(i.ProductId) && i.Reserved != 0).Select(i => i.ProductId).ToListAsync());
            var orderIds = orders.Select(o => o.OrderId).ToList();
            Assert.Empty(await db.Reservations.AsNoTracking().Where(r => orderIds.Contains(r.OrderId) && r.Status == ReservationStatus.Reserved).ToListAsync());
        }
    }
}
