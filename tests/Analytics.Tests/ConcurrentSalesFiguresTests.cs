using Mercato.Analytics.Data;
using Mercato.Contracts;
using Mercato.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Wolverine;

namespace Mercato.Analytics.Tests;

/// <summary>
/// The sales figures on PostgreSQL (scale-out profile), where handlers run side by side, in one instance and across
/// instances, without SQLite's one writer at a time.
/// </summary>
public sealed class ConcurrentSalesFiguresTests
{
    [SkippableFact]
    public async Task Confirmed_orders_of_one_product_handled_at_once_all_count()
    {
        await using var database = await PostgresTestDatabase.CreateAsync("analytics_sales");
        using var analytics = database.ScaleOutHost<Program>("analytics");
        var (mug, kettle, customer) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        OrderConfirmed Order() => new(Guid.NewGuid(), customer, 10m, [new OrderLine(kettle, 1, 5m), new OrderLine(mug, 2, 2.5m)], DateTimeOffset.UtcNow);
        async Task DeliverAsync(OrderConfirmed order)
        {
            await using var scope = analytics.Services.CreateAsyncScope();
            await scope.ServiceProvider.GetRequiredService<IMessageBus>().InvokeAsync(order);
        }

        // The first order creates the rows; the 40 after it, handled at once, only add to them.
        await DeliverAsync(Order());
        await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => DeliverAsync(Order())));

        await using var scope = analytics.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AnalyticsDb>();
        var sales = await db.ProductSales.AsNoTracking().Where(s => s.ProductId == mug || s.ProductId == kettle).ToDictionaryAsync(s => s.ProductId);
        Assert.Equal((82, 41), (sales[mug].Quantity, sales[mug].Orders));
        Assert.Equal((41, 41), (sales[kettle].Quantity, sales[kettle].Orders));
        Assert.Equal(82, (await db.CustomerPurchases.AsNoTracking().SingleAsync(p => p.CustomerId == customer && p.ProductId == mug)).Quantity);
        Assert.Equal([41, 41], await db.CoPurchases.AsNoTracking().Where(p => p.ProductId == mug || p.ProductId == kettle).Select(p => p.Count).ToListAsync());
        Assert.Equal(41, await db.Events.CountAsync(e => e.Type == nameof(OrderConfirmed)));
    }
}
