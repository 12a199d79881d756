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

    [SkippableFact]
    public async Task Replays_beside_first_sales_count_every_order_once()
    {
        await using var database = await PostgresTestDatabase.CreateAsync("analytics_replay");
        using var analytics = database.ScaleOutHost<Program>("analytics");
        var products = Enumerable.Range(0, 200).Select(_ => Guid.NewGuid()).ToList();
        async Task DeliverAsync(Guid product)
        {
            await using var scope = analytics.Services.CreateAsyncScope();
            await scope.ServiceProvider.GetRequiredService<IMessageBus>().InvokeAsync(
                new OrderConfirmed(Guid.NewGuid(), Guid.NewGuid(), 3m, [new OrderLine(product, 1, 3m)], DateTimeOffset.UtcNow));
        }
        async Task ReplayAsync()
        {
            await using var scope = analytics.Services.CreateAsyncScope();
            await SalesFigures.ReplayAsync(scope.ServiceProvider.GetRequiredService<AnalyticsDb>(), CancellationToken.None);
        }

        await ReplayAsync(); // starts the host before anything runs beside it
        // Each order is the first sale of its product, so its rows are new while replays delete and rebuild the figures.
        var sales = Task.WhenAll(products.Select(p => Task.Run(() => DeliverAsync(p))));
        var replays = 0;
        while (!sales.IsCompleted || replays < 3)
        {
            await ReplayAsync();
            replays++;
        }
        await sales;

        await using var check = analytics.Services.CreateAsyncScope();
        var db = check.ServiceProvider.GetRequiredService<AnalyticsDb>();
        var counted = await db.ProductSales.AsNoTracking().Where(s => products.Contains(s.ProductId)).ToListAsync();
        Assert.Equal(200, counted.Count);
        Assert.All(counted, s => Assert.Equal((1, 1), (s.Quantity, s.Orders)));
    }
}
