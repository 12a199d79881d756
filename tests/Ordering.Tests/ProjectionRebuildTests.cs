using Mercato.Contracts;
using Mercato.Ordering.Data;
using Mercato.Ordering.Domain;
using Mercato.ServiceDefaults.Data;
using Mercato.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;

namespace Mercato.Ordering.Tests;

/// <summary>Rebuilding the order views from the event store, in batches, on SQLite and on PostgreSQL under live appends.</summary>
public sealed class ProjectionRebuildTests
{
    private static OrderingDb Open(string profile, string connectionString)
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Mercato:Profile"] = profile,
            ["ConnectionStrings:ordering"] = connectionString,
        }).Build();
        var options = new DbContextOptionsBuilder<OrderingDb>();
        options.UseServiceDatabase(config, "ordering");
        return new OrderingDb(options.Options);
    }

    private static async Task<List<Guid>> SubmitOrdersAsync(Func<OrderingDb> open, int count)
    {
        var ids = new List<Guid>();
        await using var db = open();
        for (var i = 0; i < count; i++)
        {
            var id = Guid.CreateVersion7();
            await new OrderEventStore(db).AppendAsync(id, new OrderEvent.Submitted(id, Guid.NewGuid(),
                [new OrderLine(Guid.NewGuid(), 1, 5m)], 5m, "tok_visa", DateTimeOffset.UtcNow));
            ids.Add(id);
        }
        await db.SaveChangesAsync();
        return ids;
    }

    private static async Task<Dictionary<Guid, string>> ViewsAsync(Func<OrderingDb> open)
    {
        await using var db = open();
        return await db.Orders.AsNoTracking().ToDictionaryAsync(o => o.Id, o => o.Json);
    }

    [Fact]
    public async Task A_rebuild_in_batches_restores_every_view_and_drops_views_without_events()
    {
        var folder = Directory.CreateTempSubdirectory("mercato-rebuild-").FullName;
        OrderingDb OpenSqlite() => Open("Embedded", $"Data Source={Path.Combine(folder, "ordering.db")}");
        await using (var db = OpenSqlite())
        {
            await ServiceDatabase.MigrateAsync(db);
        }
        var ids = await SubmitOrdersAsync(OpenSqlite, 7);
        var expected = await ViewsAsync(OpenSqlite);
        var orphan = Guid.NewGuid();
        await using (var db = OpenSqlite())
        {
            await db.Orders.Where(o => o.Id == ids[3]).ExecuteUpdateAsync(set => set.SetProperty(o => o.Json, "{}"));
            await db.Orders.Where(o => o.Id == ids[5]).ExecuteDeleteAsync();
            db.Orders.Add(new OrderDocument { Id = orphan, CustomerId = Guid.NewGuid(), Json = "{}" });
            await db.SaveChangesAsync();
        }

        int rebuilt;
        await using (var db = OpenSqlite())
        {
            rebuilt = await OrderEventStore.RebuildProjectionsAsync(db, batchSize: 2);
        }

        Assert.Equal(7, rebuilt);
        Assert.Equal(expected.OrderBy(v => v.Key), (await ViewsAsync(OpenSqlite)).OrderBy(v => v.Key));
    }

    [SkippableFact]
    public async Task Rebuilds_running_beside_appends_on_postgresql_neither_fail_nor_lose_an_event()
    {
        await using var database = await PostgresTestDatabase.CreateAsync("ordering_rebuild");
        OrderingDb OpenPostgres() => Open("ScaleOut", database.ConnectionString);
        await using (var db = OpenPostgres())
        {
            await ServiceDatabase.MigrateAsync(db);
        }
        var ids = await SubmitOrdersAsync(OpenPostgres, 60);

        // Four writers append to their own orders (one writer per stream, as the saga's handlers do) while rebuilds run.
        using var stop = new CancellationTokenSource();
        var appended = 0;
        var writers = ids.Chunk(15).Select(orders => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                foreach (var id in orders)
                {
                    await using var db = OpenPostgres();
                    await new OrderEventStore(db).AppendAsync(id, new OrderEvent.StepTimedOut($"step-{Interlocked.Increment(ref appended)}", DateTimeOffset.UtcNow));
                    await db.SaveChangesAsync();
                }
            }
        })).ToList();
        try
        {
            for (var i = 0; i < 15; i++)
            {
                await using var db = OpenPostgres();
                Assert.Equal(60, await OrderEventStore.RebuildProjectionsAsync(db, batchSize: 4));
            }
        }
        finally
        {
            stop.Cancel();
            await Task.WhenAll(writers);
        }

        // Every view, rebuilt or written live, holds every event of its stream: one more rebuild changes nothing.
        var live = await ViewsAsync(OpenPostgres);
        await using (var db = OpenPostgres())
        {
            await OrderEventStore.RebuildProjectionsAsync(db);
        }
        Assert.Equal(live.OrderBy(v => v.Key), (await ViewsAsync(OpenPostgres)).OrderBy(v => v.Key));
        Assert.True(appended > 60, $"only {appended} appends ran beside the rebuilds");
    }
}
