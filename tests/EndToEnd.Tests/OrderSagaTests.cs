using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mercato.ServiceDefaults.Resilience;
using Mercato.Testing;

namespace Mercato.EndToEnd.Tests;

/// <summary>
/// The order saga end to end: real processes, real SQLite files, Wolverine over TCP, driven through the gateway. The
/// same suite runs against both saga styles.
/// </summary>
public abstract class OrderSagaSuite(MercatoSystem system)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    private static Guid Product(int number) => new($"00000000-0000-4000-8000-{number:D12}");

    private static async Task<JsonElement> StockAsync(HttpClient client, Guid product) =>
        await client.GetFromJsonAsync<JsonElement>($"/api/inventory/items/{product}");

    /// <summary>Stock once nothing is held any more: confirmation commits reservations asynchronously, after the order turns terminal.</summary>
    private static async Task<JsonElement> SettledStockAsync(HttpClient client, Guid product)
    {
        var deadline = DateTime.UtcNow + Patience;
        JsonElement stock;
        do
        {
            stock = await StockAsync(client, product);
            if (stock.GetProperty("reserved").GetInt32() == 0)
            {
                return stock;
            }
            await Task.Delay(250);
        }
        while (DateTime.UtcNow < deadline);
        return stock;
    }

    private static async Task<Guid> PlaceAsync(HttpClient client, Guid product, int quantity, string? paymentMethod = null, string? key = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/orders")
        {
            Content = JsonContent.Create(new { items = new[] { new { productId = product, quantity } }, paymentMethod }),
        };
        request.Headers.Add("Idempotency-Key", key ?? Guid.NewGuid().ToString());
        var response = await client.SendAsync(request);
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"placing the order answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid();
    }

    private static async Task<JsonElement> TerminalAsync(HttpClient client, Guid orderId)
    {
        var deadline = DateTime.UtcNow + Patience;
        JsonElement order;
        do
        {
            order = await client.GetFromJsonAsync<JsonElement>($"/api/orders/{orderId}");
            if (order.GetProperty("status").GetString() != "Pending")
            {
                return order;
            }
            await Task.Delay(250);
        }
        while (DateTime.UtcNow < deadline);
        throw new TimeoutException($"Order {orderId} is still pending: {order}");
    }

    /// <summary>Polls a query until it yields something (bounded): consumers downstream of the saga are eventually consistent.</summary>
    private static async Task<List<JsonElement>> EventuallyAsync(Func<Task<JsonElement>> query, Func<JsonElement, bool> wanted, int atLeast = 1)
    {
        var deadline = DateTime.UtcNow + Patience;
        List<JsonElement> found;
        do
        {
            found = [.. (await query()).EnumerateArray().Where(wanted)];
            if (found.Count >= atLeast)
            {
                return found;
            }
            await Task.Delay(250);
        }
        while (DateTime.UtcNow < deadline);
        return found;
    }

    private static async Task<List<JsonElement>> PaymentsAsync(HttpClient admin, Guid orderId) =>
        [.. (await admin.GetFromJsonAsync<JsonElement>($"/api/payments?orderId={orderId}")).EnumerateArray()];

    [SkippableFact]
    public async Task A_paid_order_in_stock_is_confirmed_and_charged_once()
    {
        var admin = await system.AdminAsync();
        var (customer, customerId, _) = await system.NewCustomerAsync();
        var product = Product(5);
        await MercatoSystem.SetStockAsync(admin, product, 10);

        var orderId = await PlaceAsync(customer, product, 3);
        var order = await TerminalAsync(customer, orderId);
        var stock = await SettledStockAsync(customer, product);
        var payments = await PaymentsAsync(admin, orderId);
        var events = await customer.GetFromJsonAsync<JsonElement>($"/api/orders/{orderId}/events");
        var list = await customer.GetFromJsonAsync<JsonElement>("/api/orders");

        Assert.Equal("Confirmed", order.GetProperty("status").GetString());
        Assert.Equal(customerId, order.GetProperty("customerId").GetGuid());
        Assert.Equal((7, 0), (stock.GetProperty("onHand").GetInt32(), stock.GetProperty("reserved").GetInt32()));
        var payment = Assert.Single(payments);
        Assert.Equal(("Captured", order.GetProperty("total").GetDecimal()), (payment.GetProperty("status").GetString(), payment.GetProperty("amount").GetDecimal()));
        Assert.Equal(["Submitted", "PaymentCaptured", "StockReserved", "Confirmed"], events.EnumerateArray().Select(e => e.GetProperty("type").GetString()));
        Assert.Equal(events.GetArrayLength(), order.GetProperty("version").GetInt32());
        Assert.Contains(list.EnumerateArray(), o => o.GetProperty("id").GetGuid() == orderId);

        // Choreography downstream: one notification, and the audit log holds the order's integration events.
        var notifications = await EventuallyAsync(() => customer.GetFromJsonAsync<JsonElement>("/api/notifications"),
            n => n.GetProperty("orderId").GetGuid() == orderId);
        var audit = await EventuallyAsync(() => admin.GetFromJsonAsync<JsonElement>($"/api/analytics/events?orderId={orderId}"),
            _ => true, atLeast: 3);
        Assert.Equal("order_confirmed", Assert.Single(notifications).GetProperty("type").GetString());
        Assert.Superset(new HashSet<string?> { "PaymentCaptured", "StockReserved", "OrderConfirmed" }, audit.Select(e => e.GetProperty("type").GetString()).ToHashSet());
        Assert.Single(audit, e => e.GetProperty("type").GetString() == "OrderConfirmed");
        var trending = await customer.GetFromJsonAsync<JsonElement>("/api/analytics/trending?limit=50");
        Assert.Contains(trending.EnumerateArray(), t => t.GetProperty("productId").GetGuid() == product);
    }

    [SkippableFact]
    public async Task A_client_follows_its_order_with_held_reads_through_the_gateway()
    {
        var (customer, _, _) = await system.NewCustomerAsync();
        var product = Product(13);
        await MercatoSystem.SetStockAsync(await system.AdminAsync(), product, 10);
        var orderId = await PlaceAsync(customer, product, 1);

        // Ordering holds each read until the order is Confirmed or Cancelled (or 20 s pass): no polling.
        HttpResponseMessage held;
        JsonElement order;
        var reads = 0;
        do
        {
            var read = new HttpRequestMessage(HttpMethod.Get, $"/api/orders/{orderId}");
            read.Headers.TryAddWithoutValidation("Prefer", "wait=20");
            held = await customer.SendAsync(read);
            Assert.Equal(HttpStatusCode.OK, held.StatusCode);
            Assert.Equal("wait=20", Assert.Single(held.Headers.GetValues("Preference-Applied")));
            order = await held.Content.ReadFromJsonAsync<JsonElement>();
        }
        while (order.GetProperty("status").GetString() == "Pending" && ++reads < 5);
        Assert.Equal("Confirmed", order.GetProperty("status").GetString());
        var etag = held.Headers.ETag?.Tag;
        Assert.Equal($"\"{order.GetProperty("version").GetInt32()}\"", etag);

        var again = new HttpRequestMessage(HttpMethod.Get, $"/api/orders/{orderId}");
        again.Headers.TryAddWithoutValidation("If-None-Match", etag);
        Assert.Equal(HttpStatusCode.NotModified, (await customer.SendAsync(again)).StatusCode);
    }

    [SkippableFact]
    public async Task Recommendations_come_from_what_others_bought_together()
    {
        var admin = await system.AdminAsync();
        var (first, _, _) = await system.NewCustomerAsync();
        var (second, _, _) = await system.NewCustomerAsync();
        Guid ball = Product(19), bottle = Product(20);
        await MercatoSystem.SetStockAsync(admin, ball, 10);
        await MercatoSystem.SetStockAsync(admin, bottle, 10);

        var both = new HttpRequestMessage(HttpMethod.Post, "/api/orders")
        {
            Content = JsonContent.Create(new { items = new[] { new { productId = ball, quantity = 1 }, new { productId = bottle, quantity = 1 } } }),
        };
        both.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
        var together = (await (await first.SendAsync(both)).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid();
        Assert.Equal("Confirmed", (await TerminalAsync(first, together)).GetProperty("status").GetString());
        Assert.Equal("Confirmed", (await TerminalAsync(second, await PlaceAsync(second, ball, 1))).GetProperty("status").GetString());

        var recommended = await EventuallyAsync(
            async () => (await second.GetFromJsonAsync<JsonElement>("/api/analytics/recommendations")).GetProperty("items"),
            r => r.GetProperty("productId").GetGuid() == bottle);
        Assert.Single(recommended);
    }

    [SkippableFact]
    public async Task A_declined_payment_cancels_and_reserves_nothing()
    {
        var admin = await system.AdminAsync();
        var (customer, _, _) = await system.NewCustomerAsync();
        var product = Product(6);
        await MercatoSystem.SetStockAsync(admin, product, 10);

        var order = await TerminalAsync(customer, await PlaceAsync(customer, product, 2, paymentMethod: "tok_decline"));
        var stock = await StockAsync(customer, product);

        Assert.Equal("Cancelled", order.GetProperty("status").GetString());
        Assert.Contains("declined", order.GetProperty("cancellationReason").GetString(), StringComparison.OrdinalIgnoreCase);
        Assert.Equal((10, 0), (stock.GetProperty("onHand").GetInt32(), stock.GetProperty("reserved").GetInt32()));
        var notifications = await EventuallyAsync(() => customer.GetFromJsonAsync<JsonElement>("/api/notifications"),
            n => n.GetProperty("type").GetString() == "order_cancelled");
        Assert.Single(notifications);
    }

    [SkippableFact]
    public async Task Not_enough_stock_cancels_refunds_and_leaves_stock_unchanged()
    {
        var admin = await system.AdminAsync();
        var (customer, _, _) = await system.NewCustomerAsync();
        var product = Product(7);
        await MercatoSystem.SetStockAsync(admin, product, 1);

        var orderId = await PlaceAsync(customer, product, 2);
        var order = await TerminalAsync(customer, orderId);
        var stock = await StockAsync(customer, product);

        Assert.Equal("Cancelled", order.GetProperty("status").GetString());
        Assert.Contains("stock", order.GetProperty("cancellationReason").GetString(), StringComparison.OrdinalIgnoreCase);
        Assert.Equal((1, 0), (stock.GetProperty("onHand").GetInt32(), stock.GetProperty("reserved").GetInt32()));
        var deadline = DateTime.UtcNow + Patience;
        while ((await PaymentsAsync(admin, orderId)).Single().GetProperty("status").GetString() != "Refunded" && DateTime.UtcNow < deadline)
        {
            await Task.Delay(250);
        }
        Assert.Equal("Refunded", (await PaymentsAsync(admin, orderId)).Single().GetProperty("status").GetString());
    }

    [SkippableFact]
    public async Task Rebuilding_the_projections_from_the_event_store_gives_byte_identical_read_models()
    {
        var admin = await system.AdminAsync();
        var (customer, _, _) = await system.NewCustomerAsync();
        var product = Product(14);
        await MercatoSystem.SetStockAsync(admin, product, 5);
        var confirmed = await PlaceAsync(customer, product, 1);
        var declined = await PlaceAsync(customer, product, 1, paymentMethod: "tok_decline");
        await TerminalAsync(customer, confirmed);
        await TerminalAsync(customer, declined);
        async Task<string[]> ReadModelsAsync() => await Task.WhenAll(
            customer.GetStringAsync($"/api/orders/{confirmed}"),
            customer.GetStringAsync($"/api/orders/{declined}"),
            customer.GetStringAsync("/api/orders"),
            customer.GetStringAsync($"/api/orders/{confirmed}/events"));
        var before = await ReadModelsAsync();

        var rebuilt = await admin.PostAsync("/api/orders/admin/rebuild-projections", null);

        Assert.Equal(HttpStatusCode.OK, rebuilt.StatusCode);
        Assert.True((await rebuilt.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("rebuilt").GetInt32() >= 2);
        Assert.Equal(before, await ReadModelsAsync());
        Assert.Equal(HttpStatusCode.Forbidden, (await customer.PostAsync("/api/orders/admin/rebuild-projections", null)).StatusCode);
    }

    [SkippableFact]
    public async Task Fifty_concurrent_orders_for_ten_units_confirm_exactly_ten()
    {
        var admin = await system.AdminAsync();
        var product = Product(10);
        await MercatoSystem.SetStockAsync(admin, product, 10);
        var customers = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => system.NewCustomerAsync()));

        var orderIds = await Task.WhenAll(Enumerable.Range(0, 50).Select(i => PlaceAsync(customers[i % 5].Client, product, 1)));
        var orders = await Task.WhenAll(orderIds.Select((id, i) => TerminalAsync(customers[i % 5].Client, id)));
        var stock = await SettledStockAsync(admin, product);

        Assert.Equal(10, orders.Count(o => o.GetProperty("status").GetString() == "Confirmed"));
        Assert.Equal(40, orders.Count(o => o.GetProperty("status").GetString() == "Cancelled"));
        Assert.Equal((0, 0), (stock.GetProperty("onHand").GetInt32(), stock.GetProperty("reserved").GetInt32()));
        var deadline = DateTime.UtcNow + Patience;
        List<JsonElement> payments;
        do
        {
            payments = [.. (await Task.WhenAll(orderIds.Select(id => PaymentsAsync(admin, id)))).SelectMany(p => p)];
            if (payments.Count(p => p.GetProperty("status").GetString() == "Refunded") == 40)
            {
                break;
            }
            await Task.Delay(500);
        }
        while (DateTime.UtcNow < deadline);
        Assert.Equal(50, payments.Count);
        Assert.Equal(10, payments.Count(p => p.GetProperty("status").GetString() == "Captured"));
        Assert.Equal(40, payments.Count(p => p.GetProperty("status").GetString() == "Refunded"));
    }

    [SkippableFact]
    public async Task Checkout_turns_the_basket_into_an_order_and_empties_it()
    {
        var admin = await system.AdminAsync();
        var (customer, _, _) = await system.NewCustomerAsync();
        Guid mat = Product(16), lamp = Product(17);
        await MercatoSystem.SetStockAsync(admin, mat, 50);
        await MercatoSystem.SetStockAsync(admin, lamp, 50);

        var unknown = await customer.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = mat, quantity = 1 }, new { productId = Guid.NewGuid(), quantity = 1 } } });
        await ProblemAssert.NamesField(unknown, "items[1].productId");
        var put = await customer.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = mat, quantity = 2 }, new { productId = lamp, quantity = 1 } } });
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        var basket = await customer.GetFromJsonAsync<JsonElement>("/api/basket");
        Assert.Equal(2, basket.GetProperty("items").GetArrayLength());

        var checkout = new HttpRequestMessage(HttpMethod.Post, "/api/basket/checkout") { Content = JsonContent.Create(new { paymentMethod = "tok_visa" }) };
        checkout.Headers.Add("Idempotency-Key", "basket-checkout-1");
        var placed = await customer.SendAsync(checkout);
        Assert.Equal(HttpStatusCode.Accepted, placed.StatusCode);
        var orderId = (await placed.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid();

        var order = await TerminalAsync(customer, orderId);
        Assert.Equal("Confirmed", order.GetProperty("status").GetString());
        Assert.Equal(3, order.GetProperty("items").EnumerateArray().Sum(i => i.GetProperty("quantity").GetInt32()));
        Assert.Empty((await customer.GetFromJsonAsync<JsonElement>("/api/basket")).GetProperty("items").EnumerateArray());

        var empty = new HttpRequestMessage(HttpMethod.Post, "/api/basket/checkout") { Content = JsonContent.Create(new { }) };
        empty.Headers.Add("Idempotency-Key", "basket-checkout-2");
        await ProblemAssert.NamesField(await customer.SendAsync(empty), "items");
    }

    [SkippableFact]
    public async Task The_same_idempotency_key_returns_the_same_order_and_refuses_a_different_one()
    {
        var admin = await system.AdminAsync();
        var (customer, _, _) = await system.NewCustomerAsync();
        var product = Product(8);
        await MercatoSystem.SetStockAsync(admin, product, 10);

        var first = await PlaceAsync(customer, product, 1, key: "checkout-42");
        var second = await PlaceAsync(customer, product, 1, key: "checkout-42");
        var other = new HttpRequestMessage(HttpMethod.Post, "/api/orders") { Content = JsonContent.Create(new { items = new[] { new { productId = product, quantity = 2 } } }) };
        other.Headers.Add("Idempotency-Key", "checkout-42");
        var otherAnswer = await ProblemAssert.IsProblem(await customer.SendAsync(other), HttpStatusCode.UnprocessableEntity);
        var order = await TerminalAsync(customer, first);

        Assert.Equal(first, second);
        Assert.Contains(first.ToString(), otherAnswer.GetProperty("errors").GetProperty("Idempotency-Key")[0].GetString(), StringComparison.Ordinal);
        Assert.Equal("Confirmed", order.GetProperty("status").GetString());
        Assert.Single((await customer.GetFromJsonAsync<JsonElement>("/api/orders")).EnumerateArray());
        Assert.Equal(9, (await SettledStockAsync(customer, product)).GetProperty("onHand").GetInt32());
    }

    [SkippableFact]
    public async Task Bad_orders_are_refused_with_the_field_named()
    {
        var (customer, _, _) = await system.NewCustomerAsync();
        var noKey = await customer.PostAsJsonAsync("/api/orders", new { items = new[] { new { productId = Product(1), quantity = 1 } } });
        var unknown = new HttpRequestMessage(HttpMethod.Post, "/api/orders") { Content = JsonContent.Create(new { items = new[] { new { productId = Guid.NewGuid(), quantity = 1 } } }) };
        unknown.Headers.Add("Idempotency-Key", "x");
        var anonymous = await system.Gateway.PostAsJsonAsync("/api/orders", new { });

        await ProblemAssert.NamesField(noKey, "Idempotency-Key");
        await ProblemAssert.NamesField(await customer.SendAsync(unknown), "items[0].productId");
        await ProblemAssert.IsProblem(anonymous, HttpStatusCode.Unauthorized);
        // Not the shape of a payment token: refused by ordering before payment is asked.
        foreach (var method in new[] { "..", "tok_\u0000" })
        {
            var notAMethod = new HttpRequestMessage(HttpMethod.Post, "/api/orders")
            {
                Content = JsonContent.Create(new { items = new[] { new { productId = Product(1), quantity = 1 } }, paymentMethod = method }),
            };
            notAMethod.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
            await ProblemAssert.NamesField(await customer.SendAsync(notAMethod), "paymentMethod");
        }
        var twoKeys = new HttpRequestMessage(HttpMethod.Post, "/api/orders") { Content = JsonContent.Create(new { items = new[] { new { productId = Product(1), quantity = 1 } } }) };
        twoKeys.Headers.Add("Idempotency-Key", ["key-a", "key-b"]);
        await ProblemAssert.NamesField(await customer.SendAsync(twoKeys), "Idempotency-Key");
        var padded = new HttpRequestMessage(HttpMethod.Post, "/api/orders")
        {
            Content = JsonContent.Create(new { items = new[] { new { productId = Product(1), quantity = 1 } }, pad = new string('x', 2_000_000) }),
        };
        padded.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
        await ProblemAssert.IsProblem(await customer.SendAsync(padded), HttpStatusCode.RequestEntityTooLarge);
        Assert.Empty((await customer.GetFromJsonAsync<JsonElement>("/api/orders")).EnumerateArray());
    }

    [SkippableFact]
    public async Task A_payment_service_that_never_answers_cancels_the_order_by_timeout()
    {
        var admin = await system.AdminAsync();
        var (customer, _, _) = await system.NewCustomerAsync();
        var product = Product(18);
        await MercatoSystem.SetStockAsync(admin, product, 10);

        await system.KillAsync("payment");
        Guid orderId;
        try
        {
            orderId = await PlaceAsync(customer, product, 1);
            var order = await TerminalAsync(customer, orderId);
            Assert.Equal("Cancelled", order.GetProperty("status").GetString());
            Assert.Contains("in time", order.GetProperty("cancellationReason").GetString(), StringComparison.Ordinal);
            Assert.Contains(order.GetProperty("steps").EnumerateArray(), s => s.GetProperty("name").GetString() == "payment" && s.GetProperty("status").GetString() == "timed-out");
        }
        finally
        {
            await system.RestartAsync("payment", "/api/payments?orderId=" + Guid.Empty);
        }

        // Back online, Payment receives the capture and the compensating refund in some order: either the refund came
        // first and voided the payment, or the capture was refunded. Either way the customer is not charged.
        var deadline = DateTime.UtcNow + Patience;
        List<JsonElement> payments;
        do
        {
            await Task.Delay(500);
            payments = await PaymentsAsync(admin, orderId);
        }
        while (!(payments.Count == 1 && payments[0].GetProperty("status").GetString() is "Refunded" or "Voided") && DateTime.UtcNow < deadline);
        Assert.Contains(Assert.Single(payments).GetProperty("status").GetString(), new[] { "Refunded", "Voided" });
        Assert.Equal(10, (await StockAsync(customer, product)).GetProperty("onHand").GetInt32());
    }
}

/// <summary>Crash safety: a participant SIGKILLed in the middle of sagas; after restart every order finishes, once.</summary>
public abstract class OrderCrashSuite(MercatoSystem system)
{
    /// <summary>
    /// How many instances of the participant die: all (null) when it runs alone; one of two in the scale-out profile,
    /// where the survivor must take over the dead one's messages and saga timeouts.
    /// </summary>
    protected virtual int? InstancesToKill => null;

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    [SkippableTheory]
    [InlineData("ordering", "/api/orders", 11)]
    [InlineData("payment", "/api/payments", 12)]
    public async Task Killing_a_participant_mid_saga_loses_nothing_and_charges_nobody_twice(string service, string probePath, int productNumber)
    {
        var admin = await system.AdminAsync();
        var (customer, _, _) = await system.NewCustomerAsync();
        var product = new Guid($"00000000-0000-4000-8000-{productNumber:D12}");
        await MercatoSystem.SetStockAsync(admin, product, 100);
        // Every message payment handles waits 3 s first, so the kill finds the sagas mid-flight: without this they could
        // all be over before it, and every assertion below would hold with nothing to recover. (Not ordering's own
        // messages: a handler waits inside its transaction, which holds the SQLite file's write lock, and placing the
        // orders would wait behind them.)
        await system.ApplyPolicyAsync(admin, MercatoSystem.Policy(("payment", new TargetPolicy
        {
            Faults = new FaultPolicy { MessageLatencyMs = 3_000, MessageLatencyRate = 1 },
        })));

        var orderIds = new List<Guid>();
        try
        {
            for (var i = 0; i < 10; i++)
            {
                var request = new HttpRequestMessage(HttpMethod.Post, "/api/orders") { Content = JsonContent.Create(new { items = new[] { new { productId = product, quantity = 1 } } }) };
                request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
                var response = await customer.SendAsync(request);
                Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
                orderIds.Add((await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid());
            }
            var inFlight = (await customer.GetFromJsonAsync<JsonElement>($"/api/orders/{orderIds[^1]}")).GetProperty("status").GetString();
            Assert.Equal("Pending", inFlight);
            await system.KillAsync(service, InstancesToKill);
            // Survivors and restarted instances work at full speed again (a plain PUT: the killed instances cannot confirm).
            (await admin.PutAsJsonAsync("/api/registry/policies", new MeshPolicy(), MeshPolicy.Json)).EnsureSuccessStatusCode();
            if (InstancesToKill is null)
            {
                await system.RestartAsync(service, probePath);
            }

            var deadline = DateTime.UtcNow + Patience;
            List<JsonElement> orders;
            do
            {
                await Task.Delay(500);
                orders = [.. await Task.WhenAll(orderIds.Select(id => customer.GetFromJsonAsync<JsonElement>($"/api/orders/{id}")))];
            }
            while (orders.Any(o => o.GetProperty("status").GetString() == "Pending") && DateTime.UtcNow < deadline);

            // A participant down longer than the step timeout legitimately cancels some orders; those must end uncharged.
            Assert.All(orders, o => Assert.Contains(o.GetProperty("status").GetString(), new[] { "Confirmed", "Cancelled" }));
            var confirmed = orders.Where(o => o.GetProperty("status").GetString() == "Confirmed").Select(o => o.GetProperty("id").GetGuid()).ToHashSet();
            Assert.NotEmpty(confirmed);
            foreach (var id in orderIds)
            {
                List<JsonElement> payments;
                do
                {
                    payments = (await admin.GetFromJsonAsync<JsonElement>($"/api/payments?orderId={id}")).EnumerateArray().ToList();
                    var settled = payments.Count == 1 && (confirmed.Contains(id) || payments[0].GetProperty("status").GetString() is "Refunded" or "Voided");
                    if (settled)
                    {
                        break;
                    }
                    await Task.Delay(250);
                }
                while (DateTime.UtcNow < deadline);
                var status = Assert.Single(payments).GetProperty("status").GetString();
                if (confirmed.Contains(id))
                {
                    Assert.Equal("Captured", status);
                }
                else
                {
                    Assert.Contains(status, new[] { "Refunded", "Voided" });
                }
            }
            JsonElement stock;
            do
            {
                stock = await admin.GetFromJsonAsync<JsonElement>($"/api/inventory/items/{product}");
                await Task.Delay(250);
            }
            while (stock.GetProperty("reserved").GetInt32() != 0 && DateTime.UtcNow < deadline);
            Assert.Equal((100 - confirmed.Count, 0), (stock.GetProperty("onHand").GetInt32(), stock.GetProperty("reserved").GetInt32()));
        }
        finally
        {
            // Back to full strength for the tests after this one, whatever happened above (a no-op for instances running);
            // the policy even if the restart fails, or every later order would wait on the slowed payment.
            try
            {
                await system.RestartAsync(service, probePath);
            }
            finally
            {
                await system.ApplyPolicyAsync(admin, new MeshPolicy());
            }
        }
    }
}

[Collection(SystemCollection.Name)]
public sealed class OrchestratedOrderSagaTests(EmbeddedSystem system) : OrderSagaSuite(system);

[Collection(SystemCollection.Name)]
public sealed class OrchestratedOrderCrashTests(EmbeddedSystem system) : OrderCrashSuite(system);

[Collection(ChoreographyCollection.Name)]
public sealed class ChoreographedOrderSagaTests(ChoreographedSystem system) : OrderSagaSuite(system);

[Collection(ChoreographyCollection.Name)]
public sealed class ChoreographedOrderCrashTests(ChoreographedSystem system) : OrderCrashSuite(system);

[Collection(ScaleOutCollection.Name)]
public sealed class ScaleOutOrchestratedOrderSagaTests(ScaleOutSystem system) : OrderSagaSuite(system);

[Collection(ScaleOutCollection.Name)]
public sealed class ScaleOutOrchestratedOrderCrashTests(ScaleOutSystem system) : OrderCrashSuite(system)
{
    protected override int? InstancesToKill => 1;
}

// Choreography runs the saga and crash suites on the embedded profile, orchestration on both profiles. The choreographed
// suites also pass on scale-out, but are left out of CI to keep the run under 30 minutes (the scale-out-only bug they
// once caught is covered by a unit test in Ordering.Tests).
