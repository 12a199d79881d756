using System.Net;
using System.Net.Http.Json;
using Mercato.Testing;

namespace Mercato.Basket.Tests;

/// <summary>
/// Basket on PostgreSQL, which runs writers side by side under read committed, where SQLite lets one write at a time.
/// </summary>
public sealed class BasketOnPostgresTests
{
    [SkippableFact]
    public async Task Concurrent_writes_to_one_basket_take_turns_on_postgresql()
    {
        await using var database = await PostgresTestDatabase.CreateAsync("basket_turns");
        await using var basket = new BasketFactory
        {
            Settings = [("Mercato:Profile", "ScaleOut"), ("ConnectionStrings:basket", database.ConnectionString),
                ("ConnectionStrings:rabbitmq", "amqp://guest:guest@127.0.0.1:5672/")],
        };
        basket.KeepOrderingCircuitClosed();

        // Replacements of an empty basket that have nothing in common: one wins whole, none adds to another.
        var client = basket.CreateClientWithToken(basket.Tokens.Issue(Guid.NewGuid(), "customer"));
        Guid[] products = [.. Enumerable.Range(0, 10).Select(_ => Guid.NewGuid())];
        var puts = await Task.WhenAll(products.Select(p => client.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = p, quantity = 1 } } })));

        Assert.All(puts, put => Assert.Equal(HttpStatusCode.OK, put.StatusCode));
        var line = Assert.Single((await client.GetFromJsonAsync<BasketResponse>("/api/basket"))!.Items);
        Assert.Contains(line.ProductId, products);

        // A checkout racing a replacement, for ten customers: each gets an answer the API promises, and the basket
        // ends either ordered whole or replaced whole.
        var races = await Task.WhenAll(Enumerable.Range(0, 10).Select(async i =>
        {
            var customer = basket.CreateClientWithToken(basket.Tokens.Issue(Guid.NewGuid(), "customer"));
            Guid before = Guid.NewGuid(), after = Guid.NewGuid();
            (await customer.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = before, quantity = 1 } } })).EnsureSuccessStatusCode();
            var checkout = new HttpRequestMessage(HttpMethod.Post, "/api/basket/checkout") { Content = JsonContent.Create(new { paymentMethod = "tok_visa" }) };
            checkout.Headers.Add("Idempotency-Key", $"race-{i}-{Guid.NewGuid()}");
            var answers = await Task.WhenAll(
                customer.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = after, quantity = 2 } } }),
                customer.SendAsync(checkout));
            var left = (await customer.GetFromJsonAsync<BasketResponse>("/api/basket"))!.Items;
            return (Put: answers[0].StatusCode, Checkout: answers[1].StatusCode, Left: left, After: after);
        }));

        Assert.All(races, race =>
        {
            Assert.Contains(race.Put, (HttpStatusCode[])[HttpStatusCode.OK, HttpStatusCode.Conflict]);
            Assert.Equal(HttpStatusCode.Accepted, race.Checkout);
            // The replacement came after the checkout's answer (its lines are the basket now), or met the checkout in
            // progress and changed nothing, or came first and was ordered.
            Assert.True(race.Left.Count == 0 || race.Left.SequenceEqual([new BasketLineResponse(race.After, 2)]), $"left {race.Left.Count} lines");
        });
    }
}
