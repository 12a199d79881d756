using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Mercato.EndToEnd.Tests;

/// <summary>Faults of the real engines in the scale-out profile.</summary>
[Collection(ScaleOutCollection.Name)]
public sealed class BrokerRestartTests(ScaleOutSystem system)
{
    private const int Orders = 300;
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(5);

    [SkippableFact]
    public async Task Restarting_RabbitMQ_during_300_orders_loses_nothing_and_does_nothing_twice()
    {
        var admin = await system.AdminAsync();
        var product = new Guid("00000000-0000-4000-8000-000000000015");
        (await admin.PutAsJsonAsync($"/api/inventory/items/{product}", new { onHand = 1000 })).EnsureSuccessStatusCode();
        var customers = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => system.NewCustomerAsync()));
        // Warm every saga path first: a cold instance generates its handler code on its first message (seconds).
        await WarmUpAsync(customers[0].Client, product);
        var onHandBefore = (await SettledStockAsync(admin, product, DateTime.UtcNow.AddMinutes(1))).GetProperty("onHand").GetInt32();

        // Orders keep arriving while the broker goes down and comes back: the API only needs PostgreSQL (outbox). A third
        // is placed before the broker stops (their sagas are then in flight), a third while it is down, a third after
        // it is back: in that order by construction, not by timing.
        using var gate = new SemaphoreSlim(16);
        async Task<(int Customer, Guid Id)> PlaceAsync(int i)
        {
            await gate.WaitAsync();
            try
            {
                var request = new HttpRequestMessage(HttpMethod.Post, "/api/orders") { Content = JsonContent.Create(new { items = new[] { new { productId = product, quantity = 1 } } }) };
                request.Headers.Add("Idempotency-Key", $"broker-restart-{Guid.NewGuid()}");
                var response = await customers[i % customers.Length].Client.SendAsync(request);
                Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
                return (Customer: i % customers.Length, Id: (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid());
            }
            finally
            {
                gate.Release();
            }
        }
        const int Third = Orders / 3;
        var placed = new List<(int Customer, Guid Id)>(await Task.WhenAll(Enumerable.Range(0, Third).Select(PlaceAsync)));
        await RabbitMqCtlAsync("stop_app");
        try
        {
            placed.AddRange(await Task.WhenAll(Enumerable.Range(Third, Third).Select(PlaceAsync)));
        }
        finally
        {
            await RabbitMqCtlAsync("start_app");
        }
        placed.AddRange(await Task.WhenAll(Enumerable.Range(2 * Third, Orders - (2 * Third)).Select(PlaceAsync)));

        var deadline = DateTime.UtcNow + Patience;
        JsonElement[] orders;
        do
        {
            await Task.Delay(1000);
            orders = await Task.WhenAll(placed.Select(o => customers[o.Customer].Client.GetFromJsonAsync<JsonElement>($"/api/orders/{o.Id}")));
        }
        while (orders.Any(o => o.GetProperty("status").GetString() == "Pending") && DateTime.UtcNow < deadline);

        Assert.Equal(Orders, placed.Select(o => o.Id).Distinct().Count());
        Assert.All(orders, o => Assert.Contains(o.GetProperty("status").GetString(), new[] { "Confirmed", "Cancelled" }));
        var confirmed = orders.Where(o => o.GetProperty("status").GetString() == "Confirmed").Select(o => o.GetProperty("id").GetGuid()).ToHashSet();
        Assert.NotEmpty(confirmed);

        // Nothing twice: one payment per order (captured if confirmed, given back otherwise), one notification per order.
        foreach (var (_, id) in placed)
        {
            var payments = await SettledPaymentsAsync(admin, id, confirmed.Contains(id), deadline);
            if (confirmed.Contains(id))
            {
                Assert.Equal("Captured", Assert.Single(payments).GetProperty("status").GetString());
            }
            else
            {
                Assert.All(payments, p => Assert.Contains(p.GetProperty("status").GetString(), new[] { "Refunded", "Voided", "Declined" }));
            }
        }
        var notified = await Task.WhenAll(customers.Skip(1).Select(async c => await EventuallyCountAsync(c.Client, Orders / customers.Length, deadline)));
        Assert.All(notified, count => Assert.Equal(Orders / customers.Length, count));

        // Stock adds up: every confirmed unit left, every other reservation went back.
        var stock = await SettledStockAsync(admin, product, deadline);
        Assert.Equal((onHandBefore - confirmed.Count, 0), (stock.GetProperty("onHand").GetInt32(), stock.GetProperty("reserved").GetInt32()));
    }

    /// <summary>Stock once no reservation is open any more (commits and releases arrive after the order's status).</summary>
    private static async Task<JsonElement> SettledStockAsync(HttpClient admin, Guid product, DateTime deadline)
    {
        while (true)
        {
            var stock = await admin.GetFromJsonAsync<JsonElement>($"/api/inventory/items/{product}");
            if (stock.GetProperty("reserved").GetInt32() == 0 || DateTime.UtcNow > deadline)
            {
                return stock;
            }
            await Task.Delay(500);
        }
    }

    private static async Task WarmUpAsync(HttpClient customer, Guid product)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/orders") { Content = JsonContent.Create(new { items = new[] { new { productId = product, quantity = 1 } } }) };
        request.Headers.Add("Idempotency-Key", "broker-restart-warm-up");
        var response = await customer.SendAsync(request);
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid();
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while ((await customer.GetFromJsonAsync<JsonElement>($"/api/orders/{id}")).GetProperty("status").GetString() == "Pending")
        {
            Assert.True(DateTime.UtcNow < deadline, "the warm-up order did not finish");
            await Task.Delay(500);
        }
    }

    private static async Task<List<JsonElement>> SettledPaymentsAsync(HttpClient admin, Guid orderId, bool confirmed, DateTime deadline)
    {
        while (true)
        {
            var payments = (await admin.GetFromJsonAsync<JsonElement>($"/api/payments?orderId={orderId}")).EnumerateArray().ToList();
            var settled = confirmed
                ? payments.Count == 1
                : payments.All(p => p.GetProperty("status").GetString() != "Captured");
            if (settled || DateTime.UtcNow > deadline)
            {
                return payments;
            }
            await Task.Delay(250);
        }
    }

    private static async Task<int> EventuallyCountAsync(HttpClient customer, int expected, DateTime deadline)
    {
        while (true)
        {
            var count = (await customer.GetFromJsonAsync<JsonElement>("/api/notifications")).GetArrayLength();
            if (count >= expected || DateTime.UtcNow > deadline)
            {
                // A moment more: a duplicate would arrive right after.
                await Task.Delay(1000);
                return (await customer.GetFromJsonAsync<JsonElement>("/api/notifications")).GetArrayLength();
            }
            await Task.Delay(500);
        }
    }

    /// <summary>Stops or starts the RabbitMQ application on the local node (MERCATO_TEST_RABBITMQ_NODE, default rabbit@localhost).</summary>
    private static async Task RabbitMqCtlAsync(string command)
    {
        var node = Environment.GetEnvironmentVariable("MERCATO_TEST_RABBITMQ_NODE") ?? "rabbit@localhost";
        var start = new ProcessStartInfo("rabbitmqctl", ["-n", node, command]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start) ?? throw new InvalidOperationException("rabbitmqctl did not start");
        var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"rabbitmqctl {command} failed: {output}");
    }
}
