using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mercato.Contracts;
using Mercato.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Wolverine;
using Wolverine.Runtime;
using Wolverine.Transports;

namespace Mercato.Analytics.Tests;

public sealed class AnalyticsTests(ServiceFactory<Program> analytics) : IClassFixture<ServiceFactory<Program>>
{
    [Fact]
    public async Task Every_operation_in_the_openapi_document_lists_its_answers() =>
        await OpenApiAssert.EveryOperationDocumentsItsAnswersAsync(analytics.CreateClient());

    private async Task Deliver(object message)
    {
        await using var scope = analytics.Services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<IMessageBus>().InvokeAsync(message);
    }

    private static OrderConfirmed Confirmed(Guid customer, params Guid[] products) =>
        new(Guid.NewGuid(), customer, 10m, [.. products.Select(p => new OrderLine(p, 2, 5m))], DateTimeOffset.UtcNow);

    [Fact]
    public async Task Every_integration_event_is_audited_and_can_be_queried_by_type_and_order()
    {
        var order = Guid.NewGuid();
        await Deliver(new PaymentCaptured(order, Guid.NewGuid(), 10m));
        await Deliver(new StockReserved(order));

        var admin = analytics.CreateAdminClient();
        var byOrder = await admin.GetFromJsonAsync<JsonElement>($"/api/analytics/events?orderId={order}");
        var byType = await admin.GetFromJsonAsync<JsonElement>("/api/analytics/events?type=StockReserved&limit=1000");

        Assert.Equal(["PaymentCaptured", "StockReserved"], byOrder.EnumerateArray().Select(e => e.GetProperty("type").GetString()));
        Assert.Equal(order, byOrder[0].GetProperty("data").GetProperty("orderId").GetGuid());
        Assert.Contains(byType.EnumerateArray(), e => e.GetProperty("orderId").GetGuid() == order);
        await ProblemAssert.IsProblem(await analytics.CreateCustomerClient().GetAsync("/api/analytics/events"), HttpStatusCode.Forbidden);
        await ProblemAssert.NamesField(await admin.GetAsync("/api/analytics/events?limit=0"), "limit");
        await ProblemAssert.NamesField(await admin.GetAsync("/api/analytics/events?from=2025-01-02T00:00:00Z&to=2025-01-01T00:00:00Z"), "from");
        await ProblemAssert.NamesField(await admin.GetAsync("/api/analytics/events?order=newest"), "order");
        await ProblemAssert.NamesField(await admin.GetAsync("/api/analytics/events?type=Order%00Confirmed"), "type");
        await ProblemAssert.NamesField(await admin.GetAsync($"/api/analytics/events?type={new string('A', 101)}"), "type");
        await ProblemAssert.NamesField(await admin.GetAsync("/api/analytics/events?type=OrderConfirmed&type=OrderCancelled"), "type");
        // Blank is not "no filter": it would answer every event to a caller who asked for one type.
        await ProblemAssert.NamesField(await admin.GetAsync("/api/analytics/events?type=%20"), "type");
    }

    [Fact]
    public async Task A_time_window_holds_the_events_that_occurred_in_it_in_the_order_they_were_recorded()
    {
        // Recorded in this order; the second occurred first (a late delivery). A window of its own, far in the past.
        var day = new DateTimeOffset(2001, 2, 3, 0, 0, 0, TimeSpan.Zero);
        var (ten, nine, eleven) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        await Deliver(new OrderCancelled(ten, Guid.NewGuid(), "test", day.AddHours(10)));
        await Deliver(new OrderCancelled(nine, Guid.NewGuid(), "test", day.AddHours(9)));
        await Deliver(new OrderCancelled(eleven, Guid.NewGuid(), "test", day.AddHours(11)));
        var admin = analytics.CreateAdminClient();

        async Task<Guid[]> Window(double fromHour, string order) => [.. (await admin.GetFromJsonAsync<JsonElement>(
                $"/api/analytics/events?from={day.AddHours(fromHour):yyyy-MM-ddTHH:mm:ssZ}&to={day.AddHours(12):yyyy-MM-ddTHH:mm:ssZ}&order={order}"))
            .EnumerateArray().Select(e => e.GetProperty("orderId").GetGuid())];

        Assert.Equal([ten, nine, eleven], await Window(8, "asc"));
        Assert.Equal([eleven, nine, ten], await Window(8, "desc"));
        Assert.Equal([ten, eleven], await Window(9.5, "asc"));
        Assert.Equal([eleven], await Window(10.5, "desc"));
    }

    [Fact]
    public async Task The_last_hour_of_every_type_is_read_through_an_index_not_by_scanning_the_whole_log()
    {
        // What the ops console asks every few seconds: the log only grows, so a scan would cost more every time.
        await using var scope = analytics.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<Data.AnalyticsDb>();
        await db.Database.OpenConnectionAsync();
        await using var command = AnalyticsEndpoints.EventsQuery(db, type: null, orderId: null, from: DateTimeOffset.UtcNow.AddHours(-1), to: null,
            newestFirst: true, limit: 1000).CreateDbCommand();
        command.CommandText = "EXPLAIN QUERY PLAN " + command.CommandText;
        var plan = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                plan.Add(reader.GetString(reader.GetOrdinal("detail")));
            }
        }

        Assert.Contains(plan, step => step.Contains("USING COVERING INDEX IX_Events_OccurredAtTicks (OccurredAtTicks>?)", StringComparison.Ordinal));
        Assert.DoesNotContain(plan, step => step.StartsWith("SCAN", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Newest_first_a_limit_keeps_the_latest_events()
    {
        var orders = Enumerable.Range(0, 3).Select(_ => Guid.NewGuid()).ToList();
        foreach (var order in orders)
        {
            await Deliver(new StockReserved(order));
        }
        var admin = analytics.CreateAdminClient();

        var newest = await admin.GetFromJsonAsync<JsonElement>("/api/analytics/events?type=StockReserved&limit=2&order=desc");
        var oldest = await admin.GetFromJsonAsync<JsonElement>("/api/analytics/events?type=StockReserved&limit=1000&order=asc");

        Assert.Equal([orders[2], orders[1]], newest.EnumerateArray().Select(e => e.GetProperty("orderId").GetGuid()));
        var sequences = oldest.EnumerateArray().Select(e => e.GetProperty("sequence").GetInt64()).ToList();
        Assert.Equal(sequences.Order(), sequences);
        Assert.Equal(orders, oldest.EnumerateArray().Select(e => e.GetProperty("orderId").GetGuid()).Where(orders.Contains));
    }

    [Fact]
    public async Task Trending_and_bought_together_come_from_confirmed_orders_and_survive_a_replay()
    {
        Guid tent = Guid.NewGuid(), stove = Guid.NewGuid(), lamp = Guid.NewGuid();
        var alice = Guid.NewGuid();
        await Deliver(Confirmed(Guid.NewGuid(), tent, stove));
        await Deliver(Confirmed(Guid.NewGuid(), tent, stove));
        await Deliver(Confirmed(Guid.NewGuid(), tent, lamp));
        await Deliver(Confirmed(alice, tent));

        var client = analytics.CreateClientWithToken(analytics.Tokens.Issue(alice, "customer"));
        async Task<(JsonElement Trending, JsonElement Recommendations)> Read() => (
            await client.GetFromJsonAsync<JsonElement>("/api/analytics/trending?limit=50"),
            await client.GetFromJsonAsync<JsonElement>("/api/analytics/recommendations"));
        var before = await Read();
        var replay = await analytics.CreateAdminClient().PostAsync("/api/analytics/events/replay", null);
        var after = await Read();

        var items = before.Recommendations.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("productId").GetGuid()).ToList();
        Assert.Equal([stove, lamp], items);
        Assert.Equal("bought-together", before.Recommendations.GetProperty("source").GetString());
        Assert.Equal(8, before.Trending.EnumerateArray().Single(t => t.GetProperty("productId").GetGuid() == tent).GetProperty("score").GetInt32());
        Assert.Equal(HttpStatusCode.OK, replay.StatusCode);
        Assert.Equal(before.Trending.ToString(), after.Trending.ToString());
        Assert.Equal(before.Recommendations.ToString(), after.Recommendations.ToString());
    }

    [Fact]
    public async Task A_replay_writes_back_exactly_the_figures_the_orders_added_up_to()
    {
        Guid tent = Guid.NewGuid(), stove = Guid.NewGuid(), lamp = Guid.NewGuid(), alice = Guid.NewGuid(), bob = Guid.NewGuid();
        await Deliver(new OrderConfirmed(Guid.NewGuid(), alice, 1m,
            [new OrderLine(tent, 1, 1m), new OrderLine(stove, 2, 1m), new OrderLine(tent, 3, 1m)], DateTimeOffset.UtcNow));
        await Deliver(new OrderConfirmed(Guid.NewGuid(), bob, 1m, [new OrderLine(stove, 1, 1m), new OrderLine(lamp, 4, 1m)], DateTimeOffset.UtcNow));
        await Deliver(new OrderConfirmed(Guid.NewGuid(), alice, 1m, [new OrderLine(lamp, 1, 1m)], DateTimeOffset.UtcNow));
        Guid[] mine = [tent, stove, lamp];
        async Task<string[]> FiguresAsync()
        {
            await using var scope = analytics.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<Data.AnalyticsDb>();
            return [
                .. (await db.ProductSales.AsNoTracking().Where(s => mine.Contains(s.ProductId)).ToListAsync())
                    .Select(s => $"sales {s.ProductId} {s.Quantity} {s.Orders}"),
                .. (await db.CustomerPurchases.AsNoTracking().Where(p => mine.Contains(p.ProductId)).ToListAsync())
                    .Select(p => $"bought {p.CustomerId} {p.ProductId} {p.Quantity}"),
                .. (await db.CoPurchases.AsNoTracking().Where(p => mine.Contains(p.ProductId)).ToListAsync())
                    .Select(p => $"pair {p.ProductId} {p.BoughtWithId} {p.Count}"),
            ];
        }
        var live = (await FiguresAsync()).Order(StringComparer.Ordinal).ToList();

        Assert.Equal(HttpStatusCode.OK, (await analytics.CreateAdminClient().PostAsync("/api/analytics/events/replay", null)).StatusCode);

        Assert.Contains($"sales {tent} 4 1", live);
        Assert.Contains($"sales {stove} 3 2", live);
        Assert.Contains($"bought {alice} {lamp} 1", live);
        Assert.Contains($"pair {stove} {lamp} 1", live);
        Assert.Equal(3 + 5 + 4, live.Count);
        Assert.Equal(live, (await FiguresAsync()).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_redelivered_event_is_recorded_and_counted_once()
    {
        // At-least-once transports deliver some messages twice (same message id): run one envelope through Wolverine's
        // real receiving pipeline twice, as a transport would after a lost acknowledgement.
        var runtime = analytics.Services.GetRequiredService<IWolverineRuntime>();
        var product = Guid.NewGuid();
        var confirmed = Confirmed(Guid.NewGuid(), product);
        var messageId = Guid.NewGuid();
        var channel = new AcknowledgingChannel(runtime.Pipeline);
        for (var delivery = 0; delivery < 2; delivery++)
        {
            var envelope = new Envelope(confirmed) { Id = messageId, Destination = new Uri("rabbitmq://queue/analytics") };
            await runtime.Pipeline.InvokeAsync(envelope, channel);
        }

        var admin = analytics.CreateAdminClient();
        var events = await admin.GetFromJsonAsync<JsonElement>($"/api/analytics/events?orderId={confirmed.OrderId}");
        var trending = await admin.GetFromJsonAsync<JsonElement>("/api/analytics/trending?limit=50");

        Assert.Equal(2, channel.Completed);
        Assert.Single(events.EnumerateArray());
        Assert.Equal(2, trending.EnumerateArray().Single(t => t.GetProperty("productId").GetGuid() == product).GetProperty("score").GetInt32());
    }

    /// <summary>The transport side of a delivery: counts acknowledgements.</summary>
    private sealed class AcknowledgingChannel(IHandlerPipeline pipeline) : IChannelCallback
    {
        public int Completed { get; private set; }

        public IHandlerPipeline Pipeline => pipeline;

        public ValueTask CompleteAsync(Envelope envelope)
        {
            Completed++;
            return ValueTask.CompletedTask;
        }

        public ValueTask DeferAsync(Envelope envelope) => throw new InvalidOperationException($"Delivery of {envelope.Id} was deferred.");
    }
}
