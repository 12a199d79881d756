using System.Collections.Concurrent;
using System.Data.Common;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mercato.Contracts;
using Mercato.Ordering.Data;
using Mercato.Ordering.Domain;
using Mercato.ServiceDefaults.Http;
using Mercato.Testing;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Hosting;
using Wolverine;
using Wolverine.Tracking;

namespace Mercato.Ordering.Tests;

/// <summary>Ordering on a real SQLite file; the catalog it prices against is a fixed price list.</summary>
public class OrderingFactory : ServiceFactory<Program>
{
    public static readonly Guid Mug = Guid.NewGuid();
    public static readonly Guid Kettle = Guid.NewGuid();

    /// <summary>Every request ordering sent to the catalog.</summary>
    public ConcurrentQueue<Uri> CatalogRequests { get; } = new();

    /// <summary>
    /// While set, the catalog answers every price request with this body (200, application/json), or with one that breaks
    /// off (<see cref="CatalogStandIn.CutOff"/>).
    /// </summary>
    public string? CatalogBody { get; set; }

    /// <summary>
    /// While set, the commit that records this idempotency key goes through and then fails as a connection lost before
    /// the database's answer arrived.
    /// </summary>
    public string? LoseCommitAnswerFor { get; set; }

    /// <summary>While set, saving the order that records this idempotency key fails before anything is written, as a busy database refuses it.</summary>
    public string? RefuseSaveFor { get; set; }

    /// <summary>A method the payment stand-in cannot check: it answers 503, as a payment service in trouble would.</summary>
    public const string UncheckableMethod = "tok_payment_down";

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        // Tests deliver the saga's timeouts themselves; real ones would fire in the middle of later tests of the class.
        builder.UseSetting("Ordering:StepTimeout", "01:00:00");
        // Messages committed but never queued or sent (LoseCommitAnswerFor) are recovered this soon.
        builder.UseSetting("Messaging:InboxStaleTime", "00:00:02");
        builder.UseSetting("Messaging:OutboxStaleTime", "00:00:02");
    }

    protected override void ConfigureTestServices(IServiceCollection services)
    {
        services.AddHttpClient<CatalogClient>().ConfigurePrimaryHttpMessageHandler(() => new PriceList(this));
        services.AddHttpClient<PaymentClient>().ConfigurePrimaryHttpMessageHandler(() => new PaymentMethods());
        services.ConfigureDbContext<OrderingDb>(options => options.AddInterceptors(new LostCommitAnswer(this), new RefusedSave(this)));
    }

    private sealed class RefusedSave(OrderingFactory owner) : SaveChangesInterceptor
    {
        public override ValueTask<InterceptionResult<int>> SavingChangesAsync(DbContextEventData eventData, InterceptionResult<int> result,
            CancellationToken cancellationToken = default)
        {
            if (owner.RefuseSaveFor is { } key && eventData.Context is OrderingDb db
                && db.ChangeTracker.Entries<IdempotencyKey>().Any(entry => entry.State == EntityState.Added && entry.Entity.Key == key))
            {
                owner.RefuseSaveFor = null;
                throw new SqliteException("database is locked", 5);
            }
            return ValueTask.FromResult(result);
        }
    }

    private sealed class LostCommitAnswer(OrderingFactory owner) : DbTransactionInterceptor
    {
        public override Task TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
        {
            if (owner.LoseCommitAnswerFor is { } key && eventData.Context is OrderingDb db
                && db.ChangeTracker.Entries<IdempotencyKey>().Any(entry => entry.Entity.Key == key))
            {
                owner.LoseCommitAnswerFor = null;
                throw new SqliteException("database is locked (the answer to COMMIT was lost)", 5);
            }
            return Task.CompletedTask;
        }
    }

    /// <summary><c>POST /api/orders</c> with the body and an <c>Idempotency-Key</c> (a fresh one unless given).</summary>
    public static HttpRequestMessage Place(object body, string? key = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/orders") { Content = JsonContent.Create(body) };
        request.Headers.Add("Idempotency-Key", key ?? Guid.NewGuid().ToString());
        return request;
    }

    /// <summary>Places an order (202 asserted) and waits until its saga has started; returns its id.</summary>
    public async Task<Guid> PlaceAsync(HttpClient client, object body)
    {
        var response = await client.SendAsync(Place(body));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var orderId = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid();
        await SagaStartedAsync(orderId);
        return orderId;
    }

    /// <summary>The saga starts from the outbox, asynchronously after the 202; wait for it (10 s unless told).</summary>
    public async Task SagaStartedAsync(Guid orderId, TimeSpan? within = null)
    {
        var attempts = (within ?? TimeSpan.FromSeconds(10)) / TimeSpan.FromMilliseconds(50);
        for (var attempt = 0; attempt < attempts; attempt++)
        {
            await using var scope = Services.CreateAsyncScope();
            if (await scope.ServiceProvider.GetRequiredService<OrderingDb>().Sagas.AnyAsync(s => s.Id == orderId))
            {
                return;
            }
            await Task.Delay(50);
        }
        Assert.Fail($"The saga of order {orderId} did not start.");
    }

    /// <summary>Handles a message in ordering as if it had arrived: its handler runs and commits before this returns.</summary>
    public async Task DeliverAsync(object message)
    {
        await using var scope = Services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<IMessageBus>().InvokeAsync(message);
    }

    /// <summary>Handles a message as <see cref="DeliverAsync"/> does, and tells what it sent on.</summary>
    public async Task<ITrackedSession> DeliverAndTrackAsync(object message) =>
        await Services.GetRequiredService<IHost>().TrackActivity().InvokeMessageAndWaitAsync(message);

    /// <summary>Payment's method check: card tokens (tok_...) are known.</summary>
    private sealed class PaymentMethods : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var method = Uri.UnescapeDataString(request.RequestUri!.Segments[^1]);
            return Task.FromResult(method == UncheckableMethod
                ? new HttpResponseMessage(HttpStatusCode.ServiceUnavailable)
                : new HttpResponseMessage(HttpStatusCode.OK)
                {
                    Content = JsonContent.Create(new { method, accepted = method.StartsWith("tok_", StringComparison.Ordinal), reason = method.StartsWith("tok_", StringComparison.Ordinal) ? null : "Unknown payment method." }),
                });
        }
    }

    /// <summary>The catalog's price lookup, <c>GET /api/catalog/products?ids=a,b</c>: the known products among the ids.</summary>
    private sealed class PriceList(OrderingFactory owner) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            owner.CatalogRequests.Enqueue(request.RequestUri!);
            Assert.Equal("/api/catalog/products", request.RequestUri!.AbsolutePath);
            if (owner.CatalogBody is { } body)
            {
                return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK)
                {
                    Content = body == CatalogStandIn.CutOff ? BrokenOffContent.Json("{\"items\":[") : new StringContent(body, System.Text.Encoding.UTF8, "application/json"),
                });
            }
            var ids = QueryHelpers.ParseQuery(request.RequestUri.Query)["ids"].SelectMany(v => v!.Split(',')).Select(Guid.Parse);
            var items = ids.Select(id => (id, price: id == Mug ? 8.5m : id == Kettle ? 45m : (decimal?)null))
                .Where(x => x.price is not null).Select(x => new { x.id, name = "x", x.price }).ToList();
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = JsonContent.Create(new { items }) });
        }
    }
}

public sealed class OrderingTests(OrderingFactory ordering) : IClassFixture<OrderingFactory>
{
    private Task<Guid> PlaceAsync(HttpClient client, object? body = null) =>
        ordering.PlaceAsync(client, body ?? new { items = new[] { new { productId = OrderingFactory.Mug, quantity = 2 } } });

    [Fact]
    public async Task Placing_an_order_prices_it_in_one_catalog_call_stores_its_first_event_and_starts_the_saga()
    {
        var client = ordering.CreateCustomerClient();
        ordering.CatalogRequests.Clear();
        var orderId = await PlaceAsync(client, new
        {
            items = new[] { new { productId = OrderingFactory.Mug, quantity = 2 }, new { productId = OrderingFactory.Kettle, quantity = 1 }, new { productId = OrderingFactory.Mug, quantity = 1 } },
        });

        var view = await client.GetFromJsonAsync<OrderView>($"/api/orders/{orderId}");
        var events = await client.GetFromJsonAsync<JsonElement>($"/api/orders/{orderId}/events");
        await using var scope = ordering.Services.CreateAsyncScope();
        var saga = await scope.ServiceProvider.GetRequiredService<OrderingDb>().Sagas.SingleAsync(s => s.Id == orderId);

        Assert.Equal((OrderStatus.Pending, 70.5m, ordering.CustomerId), (view!.Status, view.Total, view.CustomerId));
        Assert.Equal(3, view.Items.Single(i => i.ProductId == OrderingFactory.Mug).Quantity);
        Assert.Equal("Submitted", Assert.Single(events.EnumerateArray()).GetProperty("type").GetString());
        Assert.Equal(SagaStage.AwaitingPayment, saga.Stage);
        var priced = Assert.Single(ordering.CatalogRequests);
        Assert.Equal($"?ids={OrderingFactory.Mug},{OrderingFactory.Kettle}", priced.Query);
    }

    [Fact]
    public async Task The_same_idempotency_key_returns_the_same_order_and_creates_no_second_one()
    {
        var client = ordering.CreateClientWithToken(ordering.Tokens.Issue(Guid.NewGuid(), "customer"));
        var body = new { items = new[] { new { productId = OrderingFactory.Kettle, quantity = 1 } } };

        var first = await client.SendAsync(OrderingFactory.Place(body, "retry-me"));
        var second = await client.SendAsync(OrderingFactory.Place(body, "retry-me"));
        var list = await client.GetFromJsonAsync<List<OrderView>>("/api/orders");

        Assert.Equal(HttpStatusCode.Accepted, second.StatusCode);
        Assert.Equal((await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid(),
            (await second.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid());
        Assert.Single(list!);
    }

    [Fact]
    public async Task A_customers_orders_are_listed_newest_first_a_page_at_a_time()
    {
        var client = ordering.CreateClientWithToken(ordering.Tokens.Issue(Guid.NewGuid(), "customer"));
        var placed = new List<Guid>();
        for (var i = 0; i < 5; i++)
        {
            var accepted = await client.SendAsync(OrderingFactory.Place(new { items = new[] { new { productId = OrderingFactory.Mug, quantity = 1 } } }));
            placed.Add((await accepted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid());
        }

        async Task<List<OrderView>> ListAsync(string query) => (await client.GetFromJsonAsync<List<OrderView>>("/api/orders" + query))!;
        var all = await ListAsync("");
        var first = await ListAsync("?page=1&pageSize=2");
        var second = await ListAsync("?page=2&pageSize=2");
        var third = await ListAsync("?page=3&pageSize=2");
        var beyond = await ListAsync("?page=4&pageSize=2");

        Assert.Equal(Enumerable.Reverse(placed), all.Select(o => o.Id));
        Assert.Equal(all.Select(o => o.Id), first.Concat(second).Concat(third).Select(o => o.Id));
        Assert.Equal((2, 2, 1), (first.Count, second.Count, third.Count));
        Assert.Empty(beyond);
    }

    [Theory]
    [InlineData("pageSize=101", "pageSize")]
    [InlineData("pageSize=0", "pageSize")]
    [InlineData("page=0", "page")]
    [InlineData("page=abc", "page")]
    public async Task Rejects_bad_paging_of_the_order_list(string query, string field)
    {
        var client = ordering.CreateClientWithToken(ordering.Tokens.Issue(Guid.NewGuid(), "customer"));

        await ProblemAssert.NamesField(await client.GetAsync($"/api/orders?{query}"), field);
    }

    [Fact]
    public async Task An_idempotency_key_sent_again_with_a_different_order_is_422_and_places_nothing()
    {
        var client = ordering.CreateClientWithToken(ordering.Tokens.Issue(Guid.NewGuid(), "customer"));
        var twoKettles = new { items = new[] { new { productId = OrderingFactory.Kettle, quantity = 2 } } };
        var first = await client.SendAsync(OrderingFactory.Place(twoKettles, "one-key"));
        var orderId = (await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid();

        var moreKettles = new { items = new[] { new { productId = OrderingFactory.Kettle, quantity = 3 } } };
        var otherMethod = new { items = new[] { new { productId = OrderingFactory.Kettle, quantity = 2 } }, paymentMethod = "tok_mastercard" };
        var otherProduct = new { items = new[] { new { productId = OrderingFactory.Mug, quantity = 2 } } };
        foreach (var different in new object[] { moreKettles, otherMethod, otherProduct })
        {
            var refused = await ProblemAssert.IsProblem(await client.SendAsync(OrderingFactory.Place(different, "one-key")), HttpStatusCode.UnprocessableEntity);
            Assert.Contains(orderId.ToString(), refused.GetProperty("errors").GetProperty("Idempotency-Key")[0].GetString());
        }
        // The same order written differently (split lines, the default method named) is a retry, not a new order.
        var sameSplit = new { items = new[] { new { productId = OrderingFactory.Kettle, quantity = 1 }, new { productId = OrderingFactory.Kettle, quantity = 1 } },
            paymentMethod = OrderEndpoints.DefaultPaymentMethod };
        var retried = await client.SendAsync(OrderingFactory.Place(sameSplit, "one-key"));

        Assert.Equal(HttpStatusCode.Accepted, retried.StatusCode);
        Assert.Equal(orderId, (await retried.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid());
        Assert.False(first.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal("true", Assert.Single(retried.Headers.GetValues("Idempotent-Replayed")));
        Assert.Single((await client.GetFromJsonAsync<List<OrderView>>("/api/orders"))!);
    }

    [Fact]
    public async Task The_openapi_document_lists_every_answer_of_placing_and_reading_an_order()
    {
        var client = ordering.CreateClient();

        var place = await OpenApiAssert.OperationAsync(client, "POST", "/api/orders");
        var read = await OpenApiAssert.OperationAsync(client, "GET", "/api/orders/{id}");

        OpenApiAssert.Answers(place, 202, 400, 401, 413, 415, 422, 503);
        OpenApiAssert.DeclaresHeader(place, 503, "Retry-After");
        OpenApiAssert.SuccessesDeclareHeader(place, "Idempotent-Replayed");
        Assert.True(OpenApiAssert.RequiresBearer(place));
        Assert.EndsWith("/OrderAccepted", place.GetProperty("responses").GetProperty("202").GetProperty("content")
            .GetProperty("application/json").GetProperty("schema").GetProperty("$ref").GetString(), StringComparison.Ordinal);
        OpenApiAssert.Answers(read, 200, 304, 400, 401, 404, 503);
        await OpenApiAssert.EveryOperationDocumentsItsAnswersAsync(ordering.CreateClient());
    }

    [Theory]
    [InlineData("""{"items":[]}""", "items")]
    [InlineData("""{}""", "items")]
    [InlineData("""{"items":[{"productId":"00000000-0000-0000-0000-000000000000","quantity":1}]}""", "items[0].productId")]
    [InlineData("""{"items":[{"productId":"5b0f6a57-3f7e-4b4e-9d55-0d3f5a0e8a01","quantity":0}]}""", "items[0].quantity")]
    [InlineData("""{"items":[{"productId":"5b0f6a57-3f7e-4b4e-9d55-0d3f5a0e8a01","quantity":1000000}]}""", "items[0].quantity")]
    [InlineData("""{"items":[{"productId":"5b0f6a57-3f7e-4b4e-9d55-0d3f5a0e8a01","quantity":1}]}""", "items[0].productId")]
    [InlineData("""{"items":[{"productId":"abc","quantity":1}]}""", "items[0].productId")]
    [InlineData("""{"items":[{"productId":"5b0f6a57-3f7e-4b4e-9d55-0d3f5a0e8a01","quantity":600},{"productId":"5b0f6a57-3f7e-4b4e-9d55-0d3f5a0e8a01","quantity":600}]}""", "items[1].quantity")]
    public async Task Bad_orders_are_400_and_store_nothing(string json, string field)
    {
        var client = ordering.CreateClientWithToken(ordering.Tokens.Issue(Guid.NewGuid(), "customer"));
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/orders") { Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json") };
        request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());

        await ProblemAssert.NamesField(await client.SendAsync(request), field);
        Assert.Empty((await client.GetFromJsonAsync<List<OrderView>>("/api/orders"))!);
    }

    [Fact]
    public async Task An_order_without_idempotency_key_is_refused()
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/orders")
        {
            Content = JsonContent.Create(new { items = new[] { new { productId = OrderingFactory.Mug, quantity = 1 } } }),
        };
        await ProblemAssert.NamesField(await ordering.CreateCustomerClient().SendAsync(request), "Idempotency-Key");
    }

    [Fact]
    public async Task Two_keys_or_a_non_ascii_key_in_idempotency_key_are_refused()
    {
        var client = ordering.CreateClientWithToken(ordering.Tokens.Issue(Guid.NewGuid(), "customer"));
        var request = OrderingFactory.Place(new { items = new[] { new { productId = OrderingFactory.Mug, quantity = 1 } } }, "key-a");
        request.Headers.Add("Idempotency-Key", "key-b");
        var nonAscii = OrderingFactory.Place(new { items = new[] { new { productId = OrderingFactory.Mug, quantity = 1 } } }, "k");
        nonAscii.Headers.Remove("Idempotency-Key");
        nonAscii.Headers.TryAddWithoutValidation("Idempotency-Key", "ключ");

        await ProblemAssert.NamesField(await client.SendAsync(request), "Idempotency-Key");
        await ProblemAssert.NamesField(await client.SendAsync(nonAscii), "Idempotency-Key");
        Assert.Empty((await client.GetFromJsonAsync<List<OrderView>>("/api/orders"))!);
    }

    [Fact]
    public async Task Other_customers_orders_are_invisible_but_admins_see_them()
    {
        var orderId = await PlaceAsync(ordering.CreateCustomerClient());
        var stranger = ordering.CreateClientWithToken(ordering.Tokens.Issue(Guid.NewGuid(), "customer"));

        await ProblemAssert.IsProblem(await stranger.GetAsync($"/api/orders/{orderId}"), HttpStatusCode.NotFound);
        await ProblemAssert.IsProblem(await stranger.GetAsync($"/api/orders/{orderId}/events"), HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.OK, (await ordering.CreateAdminClient().GetAsync($"/api/orders/{orderId}")).StatusCode);
    }

    [Fact]
    public async Task The_saga_confirms_after_payment_and_stock_and_ignores_duplicates()
    {
        var client = ordering.CreateCustomerClient();
        var orderId = await PlaceAsync(client);

        await ordering.DeliverAsync(new PaymentCaptured(orderId, Guid.NewGuid(), 17m));
        await ordering.DeliverAsync(new PaymentCaptured(orderId, Guid.NewGuid(), 17m));
        await ordering.DeliverAsync(new StockReserved(orderId));
        await ordering.DeliverAsync(new StockReserved(orderId));

        var view = await client.GetFromJsonAsync<OrderView>($"/api/orders/{orderId}");
        var events = await client.GetFromJsonAsync<JsonElement>($"/api/orders/{orderId}/events");
        Assert.Equal(OrderStatus.Confirmed, view!.Status);
        Assert.Equal(["Submitted", "PaymentCaptured", "StockReserved", "Confirmed"], events.EnumerateArray().Select(e => e.GetProperty("type").GetString()));
        Assert.Equal(["submitted", "payment", "inventory", "confirmation"], view.Steps.Select(s => s.Name));
    }

    [Fact]
    public async Task Out_of_stock_cancels_and_refunds()
    {
        var client = ordering.CreateCustomerClient();
        var orderId = await PlaceAsync(client);

        await ordering.DeliverAsync(new PaymentCaptured(orderId, Guid.NewGuid(), 17m));
        var failed = await ordering.DeliverAndTrackAsync(new StockReservationFailed(orderId, "none left"));
        // The compensation is asked of payment; its answer completes the refund step.
        Assert.Equal(orderId, failed.Sent.SingleMessage<RefundPayment>().OrderId);
        Assert.Equal(orderId, failed.Sent.SingleMessage<OrderCancelled>().OrderId);
        await ordering.DeliverAsync(new PaymentRefunded(orderId, Guid.NewGuid(), 17m));

        var view = await client.GetFromJsonAsync<OrderView>($"/api/orders/{orderId}");
        Assert.Equal(OrderStatus.Cancelled, view!.Status);
        Assert.Contains("none left", view.CancellationReason, StringComparison.Ordinal);
        Assert.Contains(view.Steps, s => s is { Name: "refund", Status: "completed" });
    }

    [Fact]
    public async Task A_payment_that_times_out_asks_for_a_refund_and_an_answer_that_nothing_was_captured_completes_it()
    {
        var client = ordering.CreateCustomerClient();
        var orderId = await PlaceAsync(client);

        var timedOut = await ordering.DeliverAndTrackAsync(new PaymentTimedOut(orderId, TimeSpan.Zero));
        Assert.Equal(orderId, timedOut.Sent.SingleMessage<RefundPayment>().OrderId);
        Assert.Contains((await client.GetFromJsonAsync<OrderView>($"/api/orders/{orderId}"))!.Steps, s => s is { Name: "refund", Status: "pending" });

        // Payment voids the order (no capture was taken): the refund step completes, once.
        await ordering.DeliverAsync(new PaymentVoided(orderId));
        await ordering.DeliverAsync(new PaymentVoided(orderId));
        var view = await client.GetFromJsonAsync<OrderView>($"/api/orders/{orderId}");
        Assert.Contains(view!.Steps, s => s is { Name: "refund", Status: "completed", Detail: "nothing was captured" });
        var events = await client.GetFromJsonAsync<JsonElement>($"/api/orders/{orderId}/events");
        Assert.Single(events.EnumerateArray(), e => e.GetProperty("type").GetString() == "PaymentVoided");

        // Payment's answer to a cancellation that never asked for a refund changes nothing.
        var declined = await PlaceAsync(client);
        await ordering.DeliverAsync(new PaymentDeclined(declined, "card declined"));
        var before = await client.GetStringAsync($"/api/orders/{declined}");
        await ordering.DeliverAsync(new PaymentVoided(declined));
        Assert.Equal(before, await client.GetStringAsync($"/api/orders/{declined}"));
    }

    [Fact]
    public async Task A_step_that_times_out_cancels_and_compensates()
    {
        var client = ordering.CreateCustomerClient();
        var orderId = await PlaceAsync(client);

        await ordering.DeliverAsync(new PaymentCaptured(orderId, Guid.NewGuid(), 17m));
        var timedOut = await ordering.DeliverAndTrackAsync(new StockTimedOut(orderId, TimeSpan.Zero));
        // Compensation in reverse: stock that may be held is released, the captured payment refunded.
        Assert.Equal(orderId, timedOut.Sent.SingleMessage<ReleaseStock>().OrderId);
        Assert.Equal(orderId, timedOut.Sent.SingleMessage<RefundPayment>().OrderId);
        // The reservation arrives late: the saga is over and the order stays cancelled (its stock is released again).
        await ordering.DeliverAsync(new StockReserved(orderId));

        var view = await client.GetFromJsonAsync<OrderView>($"/api/orders/{orderId}");
        Assert.Equal(OrderStatus.Cancelled, view!.Status);
        Assert.Contains(view.Steps, s => s is { Name: "inventory", Status: "timed-out" });
        Assert.Contains(view.Steps, s => s is { Name: "release", Status: "requested" });
        Assert.Contains(view.Steps, s => s is { Name: "refund", Status: "pending" });

        // Inventory's answer completes the release, once; its answer to a cancellation that held nothing changes nothing.
        await ordering.DeliverAsync(new StockReleased(orderId));
        await ordering.DeliverAsync(new StockReleased(orderId));
        var compensated = await client.GetFromJsonAsync<OrderView>($"/api/orders/{orderId}");
        Assert.Contains(compensated!.Steps, s => s is { Name: "release", Status: "completed" });
        var events = await client.GetFromJsonAsync<JsonElement>($"/api/orders/{orderId}/events");
        Assert.Single(events.EnumerateArray(), e => e.GetProperty("type").GetString() == "StockReleased");

        var declined = await PlaceAsync(client);
        await ordering.DeliverAsync(new PaymentDeclined(declined, "card declined"));
        var before = await client.GetStringAsync($"/api/orders/{declined}");
        await ordering.DeliverAsync(new StockReleased(declined));
        Assert.Equal(before, await client.GetStringAsync($"/api/orders/{declined}"));
    }

    [Fact]
    public async Task An_append_to_a_stream_whose_view_was_lost_takes_its_version_from_the_stream_and_restores_the_view()
    {
        var client = ordering.CreateCustomerClient();
        var orderId = await PlaceAsync(client);
        await using (var scope = ordering.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<OrderingDb>().Orders.Where(o => o.Id == orderId).ExecuteDeleteAsync();
        }

        await ordering.DeliverAsync(new PaymentCaptured(orderId, Guid.NewGuid(), 8.5m));

        var view = await client.GetFromJsonAsync<OrderView>($"/api/orders/{orderId}");
        Assert.Equal(2, view!.Version);
        Assert.Contains(view.Steps, s => s is { Name: "submitted", Status: "completed" });
        Assert.Contains(view.Steps, s => s is { Name: "payment", Status: "completed" });
        var events = await client.GetFromJsonAsync<JsonElement>($"/api/orders/{orderId}/events");
        Assert.Equal([1, 2], events.EnumerateArray().Select(e => e.GetProperty("version").GetInt32()));
    }

    [Theory]
    [InlineData("oops")]
    [InlineData("""{"items":"none"}""")]
    [InlineData("""[1,2]""")]
    [InlineData("null")]
    [InlineData("{}")]
    [InlineData("""{"items":null}""")]
    [InlineData("""{"items":[{"id":"MUG","name":"Mug"}]}""")]
    [InlineData("""{"items":[{"id":"MUG","name":"Mug","price":null}]}""")]
    [InlineData("""{"items":[{"name":"Mug","price":8.5}]}""")]
    [InlineData("""{"items":[{"id":"MUG","name":"Mug","price":-8.5}]}""")]
    [InlineData(CatalogStandIn.CutOff)]
    public async Task A_catalog_answer_that_is_not_a_product_page_is_503_and_orders_nothing(string body)
    {
        var client = ordering.CreateCustomerClient();
        var key = Guid.NewGuid().ToString();
        ordering.CatalogBody = body.Replace("MUG", OrderingFactory.Mug.ToString(), StringComparison.Ordinal);
        try
        {
            var refused = await client.SendAsync(OrderingFactory.Place(new { items = new[] { new { productId = OrderingFactory.Mug, quantity = 1 } } }, key));
            await ProblemAssert.IsProblem(refused, HttpStatusCode.ServiceUnavailable);
            Assert.Equal(TimeSpan.FromSeconds(5), refused.Headers.RetryAfter?.Delta);
        }
        finally
        {
            ordering.CatalogBody = null;
        }

        // Nothing was stored under the key: the same request now places the order.
        Assert.Equal(HttpStatusCode.Accepted, (await client.SendAsync(OrderingFactory.Place(new { items = new[] { new { productId = OrderingFactory.Mug, quantity = 1 } } }, key))).StatusCode);
    }

    [Fact]
    public async Task A_commit_whose_answer_is_lost_is_503_outcome_unknown_and_the_same_key_then_answers_with_the_order()
    {
        var client = ordering.CreateCustomerClient();
        var key = Guid.NewGuid().ToString();
        var order = new { items = new[] { new { productId = OrderingFactory.Mug, quantity = 1 } } };
        ordering.LoseCommitAnswerFor = key;

        var lost = await client.SendAsync(OrderingFactory.Place(order, key));
        var retried = await client.SendAsync(OrderingFactory.Place(order, key));

        var problem = await ProblemAssert.IsProblem(lost, HttpStatusCode.ServiceUnavailable);
        Assert.Equal(UncertainOutcome.ProblemType, problem.GetProperty("type").GetString());
        Assert.Equal(TimeSpan.FromSeconds(5), lost.Headers.RetryAfter?.Delta);
        Assert.Equal(HttpStatusCode.Accepted, retried.StatusCode);
        Assert.Equal("true", Assert.Single(retried.Headers.GetValues("Idempotent-Replayed")));
        // Its start message was committed with it but never queued: the inbox's stale-row recovery (Messaging:InboxStaleTime,
        // 2 s here) starts the saga without a restart.
        await ordering.SagaStartedAsync((await retried.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid(), TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task A_save_refused_before_its_commit_began_is_503_with_nothing_placed_not_outcome_unknown()
    {
        var client = ordering.CreateCustomerClient();
        var key = Guid.NewGuid().ToString();
        var order = new { items = new[] { new { productId = OrderingFactory.Mug, quantity = 1 } } };
        ordering.RefuseSaveFor = key;

        var refused = await client.SendAsync(OrderingFactory.Place(order, key));
        var retried = await client.SendAsync(OrderingFactory.Place(order, key));

        var problem = await ProblemAssert.IsProblem(refused, HttpStatusCode.ServiceUnavailable);
        Assert.NotEqual(UncertainOutcome.ProblemType, problem.TryGetProperty("type", out var type) ? type.GetString() : null);
        // Nothing was saved: the retry places the order now, not a replay.
        Assert.Equal(HttpStatusCode.Accepted, retried.StatusCode);
        Assert.False(retried.Headers.Contains("Idempotent-Replayed"));
    }

    [Fact]
    public async Task A_catalog_page_with_gaps_and_repeats_prices_each_product_once()
    {
        var client = ordering.CreateCustomerClient();
        ordering.CatalogBody = $$"""{"items":[null,{"id":"{{OrderingFactory.Mug}}","name":"x","price":8.5},{"id":"{{OrderingFactory.Mug}}","name":"x","price":8.5}]}""";
        HttpResponseMessage placed;
        try
        {
            placed = await client.SendAsync(OrderingFactory.Place(new { items = new[] { new { productId = OrderingFactory.Mug, quantity = 2 } } }));
        }
        finally
        {
            ordering.CatalogBody = null;
        }

        Assert.Equal(HttpStatusCode.Accepted, placed.StatusCode);
        var orderId = (await placed.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid();
        Assert.Equal(17m, (await client.GetFromJsonAsync<OrderView>($"/api/orders/{orderId}"))!.Total);
    }

    [Fact]
    public async Task A_saga_changed_since_a_handler_read_it_cannot_be_written_from_that_stale_copy()
    {
        var orderId = await PlaceAsync(ordering.CreateCustomerClient());
        await using var winner = ordering.Services.CreateAsyncScope();
        await using var loser = ordering.Services.CreateAsyncScope();
        var winnerDb = winner.ServiceProvider.GetRequiredService<OrderingDb>();
        var loserDb = loser.ServiceProvider.GetRequiredService<OrderingDb>();
        var current = await winnerDb.Sagas.SingleAsync(s => s.Id == orderId);
        var stale = await loserDb.Sagas.SingleAsync(s => s.Id == orderId);

        // As Wolverine's generated code does: a handler that changed the saga increments its version.
        current.Stage = SagaStage.AwaitingStock;
        current.Version++;
        await winnerDb.SaveChangesAsync();
        loserDb.Sagas.Remove(stale);

        await Assert.ThrowsAsync<DbUpdateConcurrencyException>(() => loserDb.SaveChangesAsync());
    }

    [Fact]
    public async Task One_unit_of_work_may_read_and_append_to_an_order_several_times_before_it_saves()
    {
        var client = ordering.CreateCustomerClient();
        var orderId = await PlaceAsync(client);
        await using (var scope = ordering.Services.CreateAsyncScope())
        {
            var store = scope.ServiceProvider.GetRequiredService<OrderEventStore>();
            await store.LoadViewAsync(orderId);
            await store.AppendAsync(orderId, new OrderEvent.PaymentCaptured(Guid.NewGuid(), 17m, DateTimeOffset.UtcNow));
            Assert.Equal(2, (await store.LoadViewAsync(orderId))!.Version);
            await store.AppendAsync(orderId, new OrderEvent.StockReserved(DateTimeOffset.UtcNow), new OrderEvent.Confirmed(DateTimeOffset.UtcNow));
            await scope.ServiceProvider.GetRequiredService<OrderingDb>().SaveChangesAsync();
        }

        var events = await client.GetFromJsonAsync<JsonElement>($"/api/orders/{orderId}/events");
        Assert.Equal(["Submitted", "PaymentCaptured", "StockReserved", "Confirmed"], events.EnumerateArray().Select(e => e.GetProperty("type").GetString()));
        Assert.Equal(OrderStatus.Confirmed, (await client.GetFromJsonAsync<OrderView>($"/api/orders/{orderId}"))!.Status);
    }

    [Fact]
    public async Task An_append_decided_on_a_view_that_another_writer_moved_since_fails_and_appends_nothing()
    {
        var client = ordering.CreateCustomerClient();
        var orderId = await PlaceAsync(client);
        await using var deciding = ordering.Services.CreateAsyncScope();
        var stale = deciding.ServiceProvider.GetRequiredService<OrderEventStore>();
        Assert.Equal(OrderStatus.Pending, (await stale.LoadViewAsync(orderId))!.Status);

        // Another handler (the deadline, on another instance) cancels the order and commits first.
        await using (var other = ordering.Services.CreateAsyncScope())
        {
            await other.ServiceProvider.GetRequiredService<OrderEventStore>().AppendAsync(orderId, new OrderEvent.Cancelled("deadline", DateTimeOffset.UtcNow));
            await other.ServiceProvider.GetRequiredService<OrderingDb>().SaveChangesAsync();
        }

        await Assert.ThrowsAsync<DbUpdateConcurrencyException>(() =>
            stale.AppendAsync(orderId, new OrderEvent.StockReserved(DateTimeOffset.UtcNow), new OrderEvent.Confirmed(DateTimeOffset.UtcNow)));

        // The retry reads the order afresh and may append on top of what it sees.
        await using var retry = ordering.Services.CreateAsyncScope();
        var fresh = retry.ServiceProvider.GetRequiredService<OrderEventStore>();
        Assert.Equal(OrderStatus.Cancelled, (await fresh.LoadViewAsync(orderId))!.Status);
        var events = await client.GetFromJsonAsync<JsonElement>($"/api/orders/{orderId}/events");
        Assert.Equal(["Submitted", "Cancelled"], events.EnumerateArray().Select(e => e.GetProperty("type").GetString()));
    }

    [Fact]
    public async Task Rebuilding_projections_gives_byte_identical_read_models()
    {
        var client = ordering.CreateCustomerClient();
        var confirmed = await PlaceAsync(client);
        var declined = await PlaceAsync(client);
        await ordering.DeliverAsync(new PaymentCaptured(confirmed, Guid.NewGuid(), 17m));
        await ordering.DeliverAsync(new StockReserved(confirmed));
        await ordering.DeliverAsync(new PaymentDeclined(declined, "card declined"));

        async Task<Dictionary<Guid, string>> Snapshot()
        {
            await using var scope = ordering.Services.CreateAsyncScope();
            return await scope.ServiceProvider.GetRequiredService<OrderingDb>().Orders.AsNoTracking().ToDictionaryAsync(o => o.Id, o => o.Json);
        }
        var before = await Snapshot();
        var rebuilt = await ordering.CreateAdminClient().PostAsync("/api/orders/admin/rebuild-projections", null);
        var after = await Snapshot();

        Assert.Equal(HttpStatusCode.OK, rebuilt.StatusCode);
        Assert.Equal(before.Count, (await rebuilt.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("rebuilt").GetInt32());
        Assert.Equal(before.OrderBy(kv => kv.Key), after.OrderBy(kv => kv.Key));
        await ProblemAssert.IsProblem(await client.PostAsync("/api/orders/admin/rebuild-projections", null), HttpStatusCode.Forbidden);
    }
}

/// <summary><c>GET /api/orders/{id}</c> with <c>Prefer: wait</c> and <c>If-None-Match</c>: a client follows an order without polling.</summary>
public sealed class OrderWaitTests(OrderingFactory ordering) : IClassFixture<OrderingFactory>
{
    private Task<Guid> PlaceAsync(HttpClient client) =>
        ordering.PlaceAsync(client, new { items = new[] { new { productId = OrderingFactory.Mug, quantity = 1 } } });

    private static HttpRequestMessage Read(Guid orderId, string? prefer, string? ifNoneMatch = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, $"/api/orders/{orderId}");
        if (prefer is not null)
        {
            request.Headers.TryAddWithoutValidation("Prefer", prefer);
        }
        if (ifNoneMatch is not null)
        {
            request.Headers.TryAddWithoutValidation("If-None-Match", ifNoneMatch);
        }
        return request;
    }

    /// <summary>Bounded: the held request shows up as a waiter on the order.</summary>
    private async Task HeldAsync(Guid orderId, Task<HttpResponseMessage> read)
    {
        var changes = ordering.Services.GetRequiredService<OrderChanges>();
        for (var attempt = 0; attempt < 200 && !changes.IsWaitedOn(orderId); attempt++)
        {
            Assert.False(read.IsCompleted, "The read was answered at once instead of waiting.");
            await Task.Delay(25);
        }
        Assert.True(changes.IsWaitedOn(orderId), "The read never waited on the order.");
    }

    [Fact]
    public async Task A_read_that_prefers_to_wait_is_held_until_the_order_is_confirmed()
    {
        var client = ordering.CreateCustomerClient();
        var orderId = await PlaceAsync(client);

        var read = client.SendAsync(Read(orderId, "wait=20"));
        await HeldAsync(orderId, read);
        await ordering.DeliverAsync(new PaymentCaptured(orderId, Guid.NewGuid(), 8.5m));
        await HeldAsync(orderId, read); // paid but not yet confirmed: still held
        await ordering.DeliverAsync(new StockReserved(orderId));

        var response = await read;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var view = await response.Content.ReadFromJsonAsync<OrderView>();
        Assert.Equal(OrderStatus.Confirmed, view!.Status);
        Assert.Equal("wait=20", Assert.Single(response.Headers.GetValues("Preference-Applied")));
        Assert.Equal($"\"{view.Version}\"", response.Headers.ETag?.Tag);
        Assert.False(ordering.Services.GetRequiredService<OrderChanges>().IsWaitedOn(orderId));
    }

    [Fact]
    public async Task With_If_None_Match_a_waiting_read_returns_at_the_next_change_and_a_plain_one_answers_304()
    {
        var client = ordering.CreateCustomerClient();
        var orderId = await PlaceAsync(client);
        var first = await client.SendAsync(Read(orderId, prefer: null));
        var etag = first.Headers.ETag!.Tag;

        var unchanged = await client.SendAsync(Read(orderId, prefer: null, ifNoneMatch: etag));
        Assert.Equal(HttpStatusCode.NotModified, unchanged.StatusCode);
        Assert.Equal(etag, unchanged.Headers.ETag?.Tag);
        // A list, and the weak form of the same tag, match too (RFC 9110's weak comparison for If-None-Match).
        Assert.Equal(HttpStatusCode.NotModified, (await client.SendAsync(Read(orderId, prefer: null, ifNoneMatch: $"\"999\", W/{etag}"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(Read(orderId, prefer: null, ifNoneMatch: "\"999\""))).StatusCode);

        var read = client.SendAsync(Read(orderId, "wait=20", etag));
        await HeldAsync(orderId, read);
        await ordering.DeliverAsync(new PaymentCaptured(orderId, Guid.NewGuid(), 8.5m));

        var response = await read;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var view = await response.Content.ReadFromJsonAsync<OrderView>();
        Assert.Equal(OrderStatus.Pending, view!.Status);
        Assert.Contains(view.Steps, s => s is { Name: "payment", Status: "completed" });
        Assert.NotEqual(etag, response.Headers.ETag?.Tag);
    }

    [Fact]
    public async Task With_If_None_Match_a_waiting_read_of_a_cancelled_order_returns_when_its_refund_completes()
    {
        // Cancelled is final, but its compensations still change the order: a page showing "refund pending" follows them.
        var client = ordering.CreateCustomerClient();
        var orderId = await PlaceAsync(client);
        await ordering.DeliverAsync(new PaymentCaptured(orderId, Guid.NewGuid(), 8.5m));
        await ordering.DeliverAsync(new StockReservationFailed(orderId, "none left"));
        var cancelled = await client.SendAsync(Read(orderId, prefer: null));
        Assert.Equal(OrderStatus.Cancelled, (await cancelled.Content.ReadFromJsonAsync<OrderView>())!.Status);

        var read = client.SendAsync(Read(orderId, "wait=20", cancelled.Headers.ETag!.Tag));
        await HeldAsync(orderId, read);
        await ordering.DeliverAsync(new PaymentRefunded(orderId, Guid.NewGuid(), 8.5m));

        var response = await read;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains((await response.Content.ReadFromJsonAsync<OrderView>())!.Steps, s => s is { Name: "refund", Status: "completed" });
    }

    [Fact]
    public async Task A_wait_that_runs_out_answers_with_the_order_as_it_is()
    {
        var client = ordering.CreateCustomerClient();
        var orderId = await PlaceAsync(client);

        var response = await client.SendAsync(Read(orderId, "respond-async, wait=1"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(OrderStatus.Pending, (await response.Content.ReadFromJsonAsync<OrderView>())!.Status);
        Assert.Equal("wait=1", Assert.Single(response.Headers.GetValues("Preference-Applied")));
        var stillUnchanged = await client.SendAsync(Read(orderId, "wait=1", response.Headers.ETag!.Tag));
        Assert.Equal(HttpStatusCode.NotModified, stillUnchanged.StatusCode);
    }

    [Fact]
    public async Task Waiting_on_an_unknown_or_someone_elses_order_is_404_at_once()
    {
        var orderId = await PlaceAsync(ordering.CreateCustomerClient());
        var stranger = ordering.CreateClientWithToken(ordering.Tokens.Issue(Guid.NewGuid(), "customer"));

        await ProblemAssert.IsProblem(await stranger.SendAsync(Read(orderId, "wait=20")), HttpStatusCode.NotFound);
        await ProblemAssert.IsProblem(await stranger.SendAsync(Read(Guid.NewGuid(), "wait=20")), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Malformed_preferences_and_entity_tags_are_ignored_not_a_server_error()
    {
        var client = ordering.CreateCustomerClient();
        var orderId = await PlaceAsync(client);

        foreach (var (prefer, ifNoneMatch) in new[] { ("wait=", "garbage"), ("wait=\"", "\"unterminated"), (";;,=,", "W/"), ("wait=99999999999999", "\"999\" trailing") })
        {
            var response = await client.SendAsync(Read(orderId, prefer, ifNoneMatch));
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"Prefer '{prefer}', If-None-Match '{ifNoneMatch}' answered {(int)response.StatusCode}");
            Assert.False(response.Headers.Contains("Preference-Applied"));
        }
    }

    [Fact]
    public async Task Beyond_a_caller_s_share_of_held_reads_a_read_is_answered_at_once_and_says_it_was_not_held()
    {
        var client = ordering.CreateCustomerClient();
        var orderId = await PlaceAsync(client);
        var changes = ordering.Services.GetRequiredService<OrderChanges>();
        var share = ordering.Services.GetRequiredService<IOptions<HeldReadLimits>>().Value.PerCaller;
        var taken = Enumerable.Range(0, share).Select(_ => changes.TryHold(ordering.CustomerId.ToString())).ToList();
        Assert.All(taken, Assert.NotNull);

        HttpResponseMessage unheld;
        try
        {
            unheld = await client.SendAsync(Read(orderId, "wait=20"));
            // Another caller has a share of its own.
            using var theirs = changes.TryHold(Guid.NewGuid().ToString());
            Assert.NotNull(theirs);
        }
        finally
        {
            taken.ForEach(hold => hold?.Dispose());
        }
        var read = client.SendAsync(Read(orderId, "wait=20"));
        await HeldAsync(orderId, read);
        await ordering.DeliverAsync(new PaymentCaptured(orderId, Guid.NewGuid(), 8.5m));
        await ordering.DeliverAsync(new StockReserved(orderId));
        var held = await read;

        Assert.Equal(HttpStatusCode.OK, unheld.StatusCode);
        Assert.Equal(OrderStatus.Pending, (await unheld.Content.ReadFromJsonAsync<OrderView>())!.Status);
        Assert.False(unheld.Headers.Contains("Preference-Applied"));
        Assert.Equal("wait=20", Assert.Single(held.Headers.GetValues("Preference-Applied")));
        Assert.Equal(0, changes.Held);
    }

    [Fact]
    public async Task Beyond_the_instance_s_held_reads_no_caller_is_held()
    {
        var client = ordering.CreateCustomerClient();
        var orderId = await PlaceAsync(client);
        var changes = ordering.Services.GetRequiredService<OrderChanges>();
        var limits = ordering.Services.GetRequiredService<IOptions<HeldReadLimits>>().Value;
        var taken = Enumerable.Range(0, limits.PerInstance).Select(i => changes.TryHold($"caller-{i / limits.PerCaller}")).ToList();
        try
        {
            Assert.All(taken, Assert.NotNull);
            Assert.Equal(limits.PerInstance, changes.Held);

            var unheld = await client.SendAsync(Read(orderId, "wait=20"));

            Assert.Equal(HttpStatusCode.OK, unheld.StatusCode);
            Assert.False(unheld.Headers.Contains("Preference-Applied"));
            Assert.Null(changes.TryHold(Guid.NewGuid().ToString()));
        }
        finally
        {
            taken.ForEach(hold => hold?.Dispose());
        }
        Assert.Equal(0, changes.Held);
    }

    [Fact]
    public async Task A_handler_that_commits_a_change_to_an_order_wakes_its_waiters_at_once()
    {
        var orderId = await PlaceAsync(ordering.CreateCustomerClient());
        var changes = ordering.Services.GetRequiredService<OrderChanges>();

        using var subscription = changes.Subscribe(orderId);
        Assert.False(subscription.Changed.IsCompleted);
        await ordering.DeliverAsync(new PaymentCaptured(orderId, Guid.NewGuid(), 8.5m));

        Assert.True(subscription.Changed.IsCompleted, "Committing the order's change did not signal its waiters.");
    }

    [Theory]
    [InlineData("wait=5", 5)]
    [InlineData("respond-async, wait=7", 7)]
    [InlineData("WAIT = \"3\"; ignored=1", 3)]
    [InlineData("wait=600", 20)]
    [InlineData("wait=-1", 0)]
    [InlineData("wait=soon", 0)]
    [InlineData("return=minimal", 0)]
    [InlineData("", 0)]
    public void The_wait_preference_is_read_as_RFC_7240_writes_it_and_capped(string prefer, int seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), OrderEndpoints.PreferredWait(prefer));
}

public sealed class PaymentMethodCheckTests(OrderingFactory ordering) : IClassFixture<OrderingFactory>
{
    private static HttpRequestMessage Place(string paymentMethod) =>
        OrderingFactory.Place(new { items = new[] { new { productId = OrderingFactory.Mug, quantity = 1 } }, paymentMethod });

    [Theory]
    [InlineData("bitcoin")] // payment answers that it does not know it
    [InlineData(".")] // not the shape of a token: refused before payment is asked (it would leave the check's route)
    [InlineData("..")]
    [InlineData("tok_\u0000")]
    public async Task A_method_payment_does_not_know_is_refused_naming_the_field_and_nothing_is_ordered(string method)
    {
        var client = ordering.CreateCustomerClient();
        await using var scope = ordering.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrderingDb>();
        var before = await db.Events.CountAsync();

        var response = await client.SendAsync(Place(method));

        await ProblemAssert.NamesField(response, "paymentMethod");
        Assert.Equal(before, await db.Events.CountAsync());
    }

    [Fact]
    public async Task When_payment_cannot_answer_the_order_is_accepted_and_left_to_the_saga()
    {
        var client = ordering.CreateCustomerClient();

        var response = await client.SendAsync(Place(OrderingFactory.UncheckableMethod));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var orderId = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid();
        var order = await client.GetFromJsonAsync<JsonElement>($"/api/orders/{orderId}");
        Assert.Equal(OrderingFactory.UncheckableMethod, order.GetProperty("paymentMethod").GetString());
    }
}

public sealed class RebuildCommandTests(OrderingFactory ordering) : IClassFixture<OrderingFactory>
{
    [Fact]
    public async Task The_rebuild_projections_command_restores_a_lost_read_model()
    {
        var client = ordering.CreateCustomerClient();
        var request = OrderingFactory.Place(new { items = new[] { new { productId = OrderingFactory.Mug, quantity = 1 } } });
        var orderId = (await (await client.SendAsync(request)).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid();
        string original;
        await using (var scope = ordering.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<OrderingDb>();
            original = (await db.Orders.AsNoTracking().SingleAsync(o => o.Id == orderId)).Json;
            await db.Orders.Where(o => o.Id == orderId).ExecuteDeleteAsync();
        }
        await ProblemAssert.IsProblem(await client.GetAsync($"/api/orders/{orderId}"), HttpStatusCode.NotFound);

        // dotnet run --project src/Services/Ordering -- rebuild-projections, on the same database file.
        var start = new System.Diagnostics.ProcessStartInfo("dotnet", [typeof(Program).Assembly.Location, "rebuild-projections"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(typeof(Program).Assembly.Location)!,
        };
        start.Environment["Mercato__DataDir"] = ordering.DataDir;
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        using var process = System.Diagnostics.Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        var errors = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();

        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}: {output} {errors}");
        Assert.Contains("Rebuilt the projections of", output, StringComparison.Ordinal);
        await using (var scope = ordering.Services.CreateAsyncScope())
        {
            var rebuilt = await scope.ServiceProvider.GetRequiredService<OrderingDb>().Orders.AsNoTracking().SingleAsync(o => o.Id == orderId);
            Assert.Equal(original, rebuilt.Json);
        }
    }
}

public sealed class OrderViewTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Projects_the_cancel_path_with_the_reason()
    {
        var id = Guid.NewGuid();
        object[] events =
        [
            new OrderEvent.Submitted(id, Guid.NewGuid(), [new OrderLine(Guid.NewGuid(), 1, 5m)], 5m, "tok_visa", T0),
            new OrderEvent.PaymentDeclined("no funds", T0.AddSeconds(1)),
            new OrderEvent.Cancelled("Payment declined: no funds", T0.AddSeconds(1)),
        ];

        var view = events.Aggregate((OrderView?)null, OrderView.Apply)!;

        Assert.Equal((OrderStatus.Cancelled, "Payment declined: no funds", 3), (view.Status, view.CancellationReason, view.Version));
        Assert.Contains(view.Steps, s => s is { Name: "payment", Status: "failed", Detail: "no funds" });
    }

    [Fact]
    public void Refuses_events_before_submission()
    {
        Assert.Throws<InvalidOperationException>(() => OrderView.Apply(null, new OrderEvent.Confirmed(T0)));
    }
}

public sealed class ChoreographedOrderingFactory : OrderingFactory
{
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseSetting("Ordering:SagaStyle", "Choreography");
        base.ConfigureWebHost(builder);
    }
}

public sealed class ChoreographyTests(ChoreographedOrderingFactory ordering) : IClassFixture<ChoreographedOrderingFactory>
{
    [Fact]
    public async Task With_the_outbox_stale_time_set_an_order_whose_commit_answer_was_lost_is_still_announced_without_a_restart()
    {
        // Choreographed, the order's OrderSubmitted goes to payment and inventory through the outbox, committed with the
        // order; with the commit's answer lost it was never sent, until the outbox's stale-row recovery sends it
        // (Messaging:OutboxStaleTime, opt-in; 2 s in this factory).
        var client = ordering.CreateCustomerClient();
        var key = Guid.NewGuid().ToString();
        ordering.LoseCommitAnswerFor = key;
        var store = ordering.Services.GetRequiredService<Wolverine.Persistence.Durability.IMessageStore>();
        async Task<int> UnsentAsync() => (await store.Admin.AllOutgoingAsync())
            .Count(e => e.MessageType?.Contains(nameof(OrderSubmitted), StringComparison.Ordinal) == true);

        var lost = await client.SendAsync(OrderingFactory.Place(new { items = new[] { new { productId = OrderingFactory.Mug, quantity = 1 } } }, key));
        var unsentAfterLoss = await UnsentAsync();
        var waited = 0;
        while (await UnsentAsync() > 0 && ++waited < 600)
        {
            await Task.Delay(100);
        }

        Assert.Equal(HttpStatusCode.ServiceUnavailable, lost.StatusCode);
        Assert.True(unsentAfterLoss > 0, "The lost commit left nothing unsent: the test no longer loses what it means to.");
        Assert.Equal(0, await UnsentAsync());
    }

    [Fact]
    public async Task A_stock_answer_that_overtakes_the_payment_event_still_confirms_the_order()
    {
        // Inventory reacts to PaymentCaptured, so with several ordering instances its StockReserved can be handled here
        // before PaymentCaptured is: the early answer must wait for the payment, not be dropped as a late one.
        var client = ordering.CreateCustomerClient();
        var request = OrderingFactory.Place(new { items = new[] { new { productId = OrderingFactory.Mug, quantity = 2 } } });
        var orderId = (await (await client.SendAsync(request)).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid();

        await using (var scope = ordering.Services.CreateAsyncScope())
        {
            var bus = scope.ServiceProvider.GetRequiredService<IMessageBus>();
            await bus.PublishAsync(new StockReserved(orderId));
            // PaymentCaptured only once StockReserved has been tried and put back for a retry (its durable envelope
            // counts the attempt), so the overtaking path runs however busy the machine is.
            var store = ordering.Services.GetRequiredService<Wolverine.Persistence.Durability.IMessageStore>();
            var tried = false;
            for (var waited = 0; !tried && waited < 300; waited++)
            {
                await Task.Delay(100);
                tried = (await store.Admin.AllIncomingAsync())
                    .Any(e => e.MessageType?.Contains(nameof(StockReserved), StringComparison.Ordinal) == true && e.Attempts > 0);
            }
            Assert.True(tried, "StockReserved was not tried before PaymentCaptured came");
            await bus.PublishAsync(new PaymentCaptured(orderId, Guid.NewGuid(), 17m));
        }

        JsonElement order;
        var attempts = 0;
        do
        {
            await Task.Delay(100);
            order = await client.GetFromJsonAsync<JsonElement>($"/api/orders/{orderId}");
        }
        // Its next retry is a scheduled one, 5 s (then 10 s) after the last: wait well beyond.
        while (order.GetProperty("status").GetString() == OrderStatus.Pending && ++attempts < 600);
        Assert.Equal(OrderStatus.Confirmed, order.GetProperty("status").GetString());
    }

    [Fact]
    public async Task A_refund_recorded_before_the_stock_failure_that_asked_for_it_stays_completed()
    {
        // Payment refunds on inventory's StockReservationFailed directly; ordering's copy of that failure can be handled
        // after payment's PaymentRefunded, and must not turn the completed refund back into a pending one.
        var client = ordering.CreateCustomerClient();
        var request = OrderingFactory.Place(new { items = new[] { new { productId = OrderingFactory.Mug, quantity = 1 } } });
        var orderId = (await (await client.SendAsync(request)).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid();
        var paymentId = Guid.NewGuid();

        await ordering.DeliverAsync(new PaymentCaptured(orderId, paymentId, 8.5m));
        await ordering.DeliverAsync(new PaymentRefunded(orderId, paymentId, 8.5m));
        await ordering.DeliverAsync(new StockReservationFailed(orderId, "out of stock"));

        var order = await client.GetFromJsonAsync<OrderView>($"/api/orders/{orderId}");
        Assert.Equal(OrderStatus.Cancelled, order!.Status);
        Assert.Contains(order.Steps, s => s is { Name: "refund", Status: "completed" });
    }
}

public sealed class SagaStyleSettingTests
{
    [Theory]
    [InlineData("Choreographed")]
    [InlineData("Orchestration,Choreography")]
    [InlineData("1")]
    [InlineData("+1")]
    public async Task A_saga_style_that_names_neither_stops_the_service(string style)
    {
        // Ordering and its participants must agree on the style; one that quietly fell back to orchestration would not.
        await using var misconfigured = new ConfiguredServiceFactory<Program>(("Ordering:SagaStyle", style));
        var error = Assert.ThrowsAny<Exception>(() => misconfigured.CreateClient());
        Assert.Contains("Ordering:SagaStyle", error.ToString(), StringComparison.Ordinal);
    }
}

public sealed class UnknownMessageTests
{
    /// <summary>
    /// A saga deadline scheduled under one saga style falls due after ordering restarted with the other, which has no
    /// handler for it: it must land in the dead-letter store with the reason, not be logged and thrown away.
    /// </summary>
    [Fact]
    public async Task A_message_no_handler_knows_is_dead_lettered_with_the_reason()
    {
        await using var orchestrated = new OrderingFactory();
        await using (var choreographed = new ChoreographedOrderingFactory())
        {
            await using var scope = choreographed.Services.CreateAsyncScope();
            await scope.ServiceProvider.GetRequiredService<IMessageBus>()
                .ScheduleAsync(new OrderDeadlinePassed(Guid.NewGuid(), TimeSpan.Zero), DateTimeOffset.UtcNow.AddHours(1));
            // The restart: the orchestrated instance starts on a copy of this database (each test host deletes its own).
            Directory.CreateDirectory(orchestrated.DataDir);
            var copy = Path.Combine(orchestrated.DataDir, "ordering.db");
            await scope.ServiceProvider.GetRequiredService<OrderingDb>().Database.ExecuteSqlAsync($"VACUUM INTO {copy}");
        }

        // There the deadline falls due at once.
        await using (var scope = orchestrated.Services.CreateAsyncScope())
        {
            var moved = await scope.ServiceProvider.GetRequiredService<OrderingDb>().Database.ExecuteSqlRawAsync(
                "update wolverine_incoming_envelopes set execution_time = {0} where status = 'Scheduled'",
                DateTimeOffset.UtcNow.AddMinutes(-1).ToString("O"));
            Assert.Equal(1, moved);
        }
        var admin = orchestrated.CreateAdminClient();
        JsonElement deadLetters;
        var waited = 0;
        do
        {
            await Task.Delay(250);
            deadLetters = await admin.GetFromJsonAsync<JsonElement>("/api/orders/admin/dead-letters");
        }
        while (deadLetters.GetArrayLength() == 0 && ++waited < 240);

        var deadLetter = Assert.Single(deadLetters.EnumerateArray());
        Assert.Contains(nameof(OrderDeadlinePassed), deadLetter.GetProperty("messageType").GetString(), StringComparison.Ordinal);
        Assert.False(string.IsNullOrEmpty(deadLetter.GetProperty("exceptionMessage").GetString()), deadLetter.ToString());
    }
}

public sealed class ScheduledMessageTests(ChoreographedOrderingFactory ordering) : IClassFixture<ChoreographedOrderingFactory>
{
    /// <summary>
    /// Saga deadlines and scheduled retries wait in the message store; after an outage or a restart many fall due at
    /// once. Every one of them must still be picked up (the durability agent takes them in batches).
    /// </summary>
    [Fact]
    public async Task A_backlog_of_scheduled_messages_falling_due_at_once_is_all_picked_up()
    {
        const int backlog = 1500;
        await using (var scope = ordering.Services.CreateAsyncScope())
        {
            var bus = scope.ServiceProvider.GetRequiredService<IMessageBus>();
            for (var i = 0; i < backlog; i++)
            {
                // Deadlines of orders this service does not know: handling them changes nothing.
                await bus.ScheduleAsync(new OrderDeadlinePassed(Guid.NewGuid(), TimeSpan.Zero), DateTimeOffset.UtcNow.AddHours(1));
            }
            Assert.Equal(backlog, await ScheduledAsync());
            // The outage: their time passes while they wait.
            await scope.ServiceProvider.GetRequiredService<OrderingDb>().Database.ExecuteSqlRawAsync(
                "update wolverine_incoming_envelopes set execution_time = {0} where status = 'Scheduled'",
                DateTimeOffset.UtcNow.AddMinutes(-1).ToString("O"));
        }

        var waited = 0;
        int left;
        while ((left = await ScheduledAsync()) > 0 && ++waited < 120)
        {
            await Task.Delay(500);
        }
        Assert.True(left == 0, $"{left} of {backlog} scheduled messages were still waiting a minute after they fell due.");
    }

    private async Task<int> ScheduledAsync()
    {
        await using var scope = ordering.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrderingDb>();
        return await db.Database.SqlQueryRaw<int>("select count(*) as Value from wolverine_incoming_envelopes where status = 'Scheduled'").SingleAsync();
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SagaMetricsCollection
{
    /// <summary>Alone, so the saga counters it listens to move only with its own host's orders.</summary>
    public const string Name = "saga metrics";
}

[Collection(SagaMetricsCollection.Name)]
public sealed class SagaMetricsTests : IAsyncLifetime
{
    private readonly CommitFailsOnce _commit = new();
    private readonly MeteredOrdering _ordering;

    public SagaMetricsTests() => _ordering = new MeteredOrdering(_commit);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _ordering.DisposeAsync();

    [Fact]
    public async Task A_confirmation_whose_commit_failed_is_counted_once_when_the_message_is_handled_again()
    {
        var confirmed = 0L;
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == OrderMetrics.MeterName && instrument.Name == "saga_confirmed")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref confirmed, value));
        listener.Start();
        var client = _ordering.CreateCustomerClient();
        var orderId = await _ordering.PlaceAsync(client, new { items = new[] { new { productId = OrderingFactory.Mug, quantity = 1 } } });
        await _ordering.DeliverAsync(new PaymentCaptured(orderId, Guid.NewGuid(), 8.5m));

        // The confirmation is saved, then its transaction fails to commit: rolled back, as a crash at that moment would.
        _commit.Arm();
        await Assert.ThrowsAnyAsync<Exception>(() => _ordering.DeliverAsync(new StockReserved(orderId)));
        Assert.True(_commit.Failed, "the commit was not made to fail");
        Assert.Equal(OrderStatus.Pending, (await client.GetFromJsonAsync<OrderView>($"/api/orders/{orderId}"))!.Status);
        Assert.Equal(0, Interlocked.Read(ref confirmed));

        // Delivered again, as the broker or the inbox would.
        await _ordering.DeliverAsync(new StockReserved(orderId));
        Assert.Equal(OrderStatus.Confirmed, (await client.GetFromJsonAsync<OrderView>($"/api/orders/{orderId}"))!.Status);
        Assert.Equal(1, Interlocked.Read(ref confirmed));
    }

    private sealed class MeteredOrdering(CommitFailsOnce commit) : OrderingFactory
    {
        protected override void ConfigureTestServices(IServiceCollection services)
        {
            base.ConfigureTestServices(services);
            services.ConfigureDbContext<OrderingDb>(options => options.AddInterceptors(commit));
        }
    }

    /// <summary>Fails the next commit of a transaction once armed; the transaction is then rolled back.</summary>
    private sealed class CommitFailsOnce : Microsoft.EntityFrameworkCore.Diagnostics.DbTransactionInterceptor
    {
        private int _armed;

        public bool Failed { get; private set; }

        public void Arm() => Interlocked.Exchange(ref _armed, 1);

        public override ValueTask<Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult> TransactionCommittingAsync(
            System.Data.Common.DbTransaction transaction, Microsoft.EntityFrameworkCore.Diagnostics.TransactionEventData eventData,
            Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult result, CancellationToken cancellationToken = default)
        {
            if (Interlocked.Exchange(ref _armed, 0) == 1)
            {
                Failed = true;
                throw new InvalidOperationException("The connection dropped before the commit (test).");
            }
            return ValueTask.FromResult(result);
        }
    }
}
