using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mercato.Basket;
using Mercato.Basket.Data;
using Mercato.ServiceDefaults.Http;
using Mercato.ServiceDefaults.Resilience;
using Mercato.Testing;
using Microsoft.AspNetCore.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Mercato.Basket.Tests;

/// <summary>
/// Basket on a real SQLite file; Ordering is a recorder that accepts or is down; the catalog has every product but
/// <see cref="NotInCatalog"/>.
/// </summary>
public sealed class BasketFactory : ServiceFactory<Program>
{
    public static readonly Guid NotInCatalog = Guid.NewGuid();

    /// <summary>Configuration besides the embedded profile's, as keys and values.</summary>
    public (string Key, string Value)[] Settings { get; init; } = [];

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        foreach (var (key, value) in Settings)
        {
            builder.UseSetting(key, value);
        }
    }

    /// <summary>Opens no circuit to ordering: tests that make it fail would otherwise leave it open for the next.</summary>
    public void KeepOrderingCircuitClosed() =>
        Services.GetRequiredService<PolicyStore>().Apply(new MeshPolicy
        {
            Version = 1,
            Targets = { ["ordering"] = TargetPolicy.Default with { CircuitBreaker = new BreakerPolicy { MinimumThroughput = 100_000 } } },
        });

    public List<(string? Authorization, string? Key, string Body)> Placed { get; } = [];

    /// <summary>When ordering says it makes an order (its ids are version 7 Guids); by default now.</summary>
    public Func<DateTimeOffset>? OrderClock { get; set; }

    /// <summary>The order ordering made for each key.</summary>
    public System.Collections.Concurrent.ConcurrentDictionary<string, Guid> Ordered { get; } = new(StringComparer.Ordinal);

    public CatalogStandIn Catalog { get; } = new(product => product != NotInCatalog);

    public bool OrderingDown { get; set; }

    /// <summary>Ordering answers only after this long: longer than the sidecar's attempt timeout means no answer.</summary>
    public TimeSpan OrderingDelay { get; set; }

    /// <summary>While set, ordering fails every order with this status, placing nothing.</summary>
    public HttpStatusCode? OrderingFails { get; set; }

    /// <summary>
    /// While set, ordering places the order and then answers 503 "outcome unknown", as when its database connection is
    /// lost during the commit.
    /// </summary>
    public bool OrderingLosesCommitAnswer { get; set; }

    /// <summary>While set, ordering takes the order, says so, and answers only when the test lets it.</summary>
    public OrderingHold? Hold { get; set; }

    /// <summary>Holds for the next calls to ordering, one each, before <see cref="Hold"/>.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<OrderingHold> Holds { get; } = new();

    public sealed class OrderingHold
    {
        public TaskCompletionSource Taken { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Answer { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Set: ordering fails this call with that status once let go, having placed nothing.</summary>
        public HttpStatusCode? FailWith { get; init; }
    }

    protected override void ConfigureTestServices(IServiceCollection services)
    {
        services.AddHttpClient<OrderingClient>().ConfigurePrimaryHttpMessageHandler(() => new FakeOrdering(this));
        services.AddHttpClient<CatalogClient>().ConfigurePrimaryHttpMessageHandler(Catalog.CreateHandler);
    }

    private sealed class FakeOrdering(BasketFactory owner) : HttpMessageHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (owner.OrderingDown)
            {
                throw new HttpRequestException(HttpRequestError.ConnectionError, "connection refused");
            }
            if (owner.OrderingFails is { } failure)
            {
                return new HttpResponseMessage(failure)
                {
                    Content = JsonContent.Create(new { title = "Ordering failed", status = (int)failure }, options: null, mediaType: new("application/problem+json")),
                };
            }
            // Like ordering, a key it took an order for answers that order again, marked as replayed; so does a call
            // that finds its key taken by another call meanwhile (ordering's unique key).
            var key = request.Headers.GetValues("Idempotency-Key").Single();
            if (owner.Ordered.TryGetValue(key, out var known))
            {
                return new HttpResponseMessage(HttpStatusCode.Accepted)
                {
                    Content = JsonContent.Create(new { orderId = known, status = "Pending" }),
                    Headers = { { "Idempotent-Replayed", "true" } },
                };
            }
            var hold = owner.Holds.TryDequeue(out var next) ? next : owner.Hold;
            // Ordering takes the order at once and answers after the delay: an answer that never comes is not an order
            // that was never made.
            if (hold?.FailWith is null)
            {
                lock (owner.Placed)
                {
                    owner.Placed.Add((request.Headers.Authorization?.ToString(), request.Headers.GetValues("Idempotency-Key").Single(),
                        request.Content!.ReadAsStringAsync(cancellationToken).Result));
                }
            }
            if (hold is not null)
            {
                hold.Taken.TrySetResult();
                await hold.Answer.Task.WaitAsync(cancellationToken);
                if (hold.FailWith is { } heldFailure)
                {
                    return new HttpResponseMessage(heldFailure)
                    {
                        Content = JsonContent.Create(new { title = "Ordering failed", status = (int)heldFailure }, options: null, mediaType: new("application/problem+json")),
                    };
                }
            }
            var made = false;
            var orderId = owner.Ordered.GetOrAdd(key, _ =>
            {
                made = true;
                return Guid.CreateVersion7(owner.OrderClock?.Invoke() ?? DateTimeOffset.UtcNow);
            });
            if (owner.OrderingLosesCommitAnswer)
            {
                return new HttpResponseMessage(HttpStatusCode.ServiceUnavailable)
                {
                    Content = JsonContent.Create(new { type = UncertainOutcome.ProblemType, title = "Outcome unknown", status = 503 }, options: null,
                        mediaType: new("application/problem+json")),
                };
            }
            await Task.Delay(owner.OrderingDelay, cancellationToken);
            var answer = new HttpResponseMessage(HttpStatusCode.Accepted) { Content = JsonContent.Create(new { orderId, status = "Pending" }) };
            if (!made)
            {
                answer.Headers.Add("Idempotent-Replayed", "true");
            }
            return answer;
        }
    }
}

public sealed class BasketTests : IClassFixture<BasketFactory>
{
    private readonly BasketFactory basket;

    public BasketTests(BasketFactory basket)
    {
        this.basket = basket;
        // Tests that make ordering fail share this host's circuit breaker with the rest: opened by them, it would answer
        // the next test's checkout itself. The breaker has its own tests (MeshPipelineTests).
        basket.KeepOrderingCircuitClosed();
    }

    private static HttpRequestMessage Checkout(string key, string paymentMethod = "tok_visa")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/basket/checkout") { Content = JsonContent.Create(new { paymentMethod }) };
        request.Headers.Add("Idempotency-Key", key);
        return request;
    }

    [Fact]
    public async Task Put_replaces_the_basket_merging_repeated_products()
    {
        var client = basket.CreateClientWithToken(basket.Tokens.Issue(Guid.NewGuid(), "customer"));
        Guid a = Guid.NewGuid(), b = Guid.NewGuid();

        await client.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = a, quantity = 1 } } });
        var replaced = await client.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = b, quantity = 2 }, new { productId = b, quantity = 3 } } });
        var read = await client.GetFromJsonAsync<BasketResponse>("/api/basket");

        Assert.Equal(HttpStatusCode.OK, replaced.StatusCode);
        Assert.Equal([new BasketLineResponse(b, 5)], read!.Items);
    }

    [Fact]
    public async Task Concurrent_replacements_of_one_basket_each_win_whole_and_none_fails()
    {
        var client = basket.CreateClientWithToken(basket.Tokens.Issue(Guid.NewGuid(), "customer"));
        Guid[] products = [.. Enumerable.Range(0, 6).Select(_ => Guid.NewGuid())];
        // Twenty baskets of three products each, overlapping, so concurrent inserts would meet on the same keys.
        var baskets = Enumerable.Range(0, 20)
            .Select(i => Enumerable.Range(0, 3).Select(j => new BasketLineResponse(products[(i + j) % 6], i + 1)).OrderBy(l => l.ProductId).ToList())
            .ToList();

        var answers = await Task.WhenAll(baskets.Select(async lines =>
        {
            var response = await client.PutAsJsonAsync("/api/basket", new { items = lines.Select(l => new { productId = l.ProductId, quantity = l.Quantity }) });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return (Sent: lines, Answered: (await response.Content.ReadFromJsonAsync<BasketResponse>())!.Items);
        }));

        Assert.All(answers, a => Assert.Equal(a.Sent, a.Answered));
        var final = (await client.GetFromJsonAsync<BasketResponse>("/api/basket"))!.Items;
        Assert.Contains(baskets, sent => sent.SequenceEqual(final));
    }

    [Fact]
    public async Task A_product_the_catalog_does_not_have_is_400_naming_its_line_and_the_basket_is_kept()
    {
        var client = basket.CreateClientWithToken(basket.Tokens.Issue(Guid.NewGuid(), "customer"));
        var kept = Guid.NewGuid();
        await client.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = kept, quantity = 1 } } });

        var refused = await client.PutAsJsonAsync("/api/basket",
            new { items = new[] { new { productId = kept, quantity = 2 }, new { productId = BasketFactory.NotInCatalog, quantity = 1 } } });

        await ProblemAssert.NamesField(refused, "items[1].productId");
        Assert.Equal([new BasketLineResponse(kept, 1)], (await client.GetFromJsonAsync<BasketResponse>("/api/basket"))!.Items);
    }

    [Fact]
    public async Task Only_products_new_to_the_basket_are_asked_of_the_catalog()
    {
        var client = basket.CreateClientWithToken(basket.Tokens.Issue(Guid.NewGuid(), "customer"));
        Guid first = Guid.NewGuid(), second = Guid.NewGuid();
        await client.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = first, quantity = 1 } } });

        var put = await client.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = first, quantity = 3 }, new { productId = second, quantity = 1 } } });

        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Single(basket.Catalog.Asked, id => id == first);
        Assert.Single(basket.Catalog.Asked, id => id == second);
    }

    [Fact]
    public async Task New_products_are_checked_in_one_catalog_call_whatever_their_number()
    {
        var client = basket.CreateClientWithToken(basket.Tokens.Issue(Guid.NewGuid(), "customer"));
        var products = Enumerable.Range(0, 49).Select(_ => Guid.NewGuid()).ToList();
        var calls = basket.Catalog.Calls;

        var put = await client.PutAsJsonAsync("/api/basket", new { items = products.Select(p => new { productId = p, quantity = 1 }).Append(new { productId = BasketFactory.NotInCatalog, quantity = 1 }) });

        await ProblemAssert.NamesField(put, "items[49].productId");
        Assert.Equal(calls + 1, basket.Catalog.Calls);
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("""{"items":[{"name":"no id"}]}""")]
    [InlineData("""{"items":[{"id":"not a guid"}]}""")]
    [InlineData("""{"items":"not a list"}""")]
    [InlineData("not json")]
    [InlineData(CatalogStandIn.CutOff)]
    public async Task An_answer_from_the_catalog_that_is_not_a_product_page_counts_as_the_catalog_down(string answer)
    {
        var client = basket.CreateClientWithToken(basket.Tokens.Issue(Guid.NewGuid(), "customer"));
        var product = Guid.NewGuid();
        basket.Catalog.Garbled = answer;
        HttpResponseMessage put;
        try
        {
            put = await client.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = product, quantity = 2 } } });
        }
        finally
        {
            basket.Catalog.Garbled = null;
        }

        Assert.True(put.StatusCode == HttpStatusCode.OK, $"{(int)put.StatusCode}: {await put.Content.ReadAsStringAsync()}");
        Assert.Equal([new BasketLineResponse(product, 2)], (await client.GetFromJsonAsync<BasketResponse>("/api/basket"))!.Items);
    }

    [Fact]
    public async Task When_the_catalog_is_down_the_basket_takes_the_lines_unchecked()
    {
        var client = basket.CreateClientWithToken(basket.Tokens.Issue(Guid.NewGuid(), "customer"));
        var product = Guid.NewGuid();
        basket.Catalog.Down = true;
        HttpResponseMessage put;
        try
        {
            put = await client.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = product, quantity = 2 } } });
        }
        finally
        {
            basket.Catalog.Down = false;
        }

        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal([new BasketLineResponse(product, 2)], (await client.GetFromJsonAsync<BasketResponse>("/api/basket"))!.Items);
    }

    [Theory]
    [InlineData("""{}""", "items")]
    [InlineData("""{"items":[{"productId":"5b0f6a57-3f7e-4b4e-9d55-0d3f5a0e8a01","quantity":0}]}""", "items[0].quantity")]
    [InlineData("""{"items":[{"quantity":1}]}""", "items[0].productId")]
    [InlineData("""{"items":[{"productId":"nope","quantity":1}]}""", "items[0].productId")]
    [InlineData("""{"items":[{"productId":"5b0f6a57-3f7e-4b4e-9d55-0d3f5a0e8a01","quantity":600},{"productId":"5b0f6a57-3f7e-4b4e-9d55-0d3f5a0e8a01","quantity":600}]}""", "items[1].quantity")]
    public async Task Bad_baskets_are_400_naming_the_field(string json, string field)
    {
        var response = await basket.CreateCustomerClient().PutAsync("/api/basket", new StringContent(json, System.Text.Encoding.UTF8, "application/json"));
        await ProblemAssert.NamesField(response, field);
    }

    [Fact]
    public async Task Checkout_places_the_order_for_the_caller_and_then_empties_the_basket()
    {
        var token = basket.Tokens.Issue(Guid.NewGuid(), "customer");
        var client = basket.CreateClientWithToken(token);
        var product = Guid.NewGuid();
        await client.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = product, quantity = 4 } } });

        var response = await client.SendAsync(Checkout("key-1"));
        var replay = await client.SendAsync(Checkout("key-1"));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        // Where the order can be followed, as ordering's own answer says, on the answer and on its replay.
        var orderId = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid();
        Assert.Equal($"/api/orders/{orderId}", response.Headers.Location?.OriginalString);
        Assert.Equal(HttpStatusCode.Accepted, replay.StatusCode);
        Assert.Equal($"/api/orders/{orderId}", replay.Headers.Location?.OriginalString);
        var placed = Assert.Single(basket.Placed, p => p.Key == "key-1");
        Assert.Equal($"Bearer {token}", placed.Authorization);
        var order = JsonDocument.Parse(placed.Body).RootElement;
        Assert.Equal(product, order.GetProperty("items")[0].GetProperty("productId").GetGuid());
        Assert.Equal(4, order.GetProperty("items")[0].GetProperty("quantity").GetInt32());
        Assert.Empty((await client.GetFromJsonAsync<BasketResponse>("/api/basket"))!.Items);
        await ProblemAssert.NamesField(await client.SendAsync(Checkout("key-2")), "items");
    }

    [Fact]
    public async Task Ordering_unreachable_at_a_first_checkout_is_503_with_retry_after_and_the_lines_go_back()
    {
        var client = basket.CreateClientWithToken(basket.Tokens.Issue(Guid.NewGuid(), "customer"));
        var product = Guid.NewGuid();
        (await client.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = product, quantity = 2 } } })).EnsureSuccessStatusCode();
        var key = $"unreachable-{Guid.NewGuid():N}";
        basket.OrderingDown = true;
        HttpResponseMessage response;
        try
        {
            response = await client.SendAsync(Checkout(key));
        }
        finally
        {
            basket.OrderingDown = false;
        }

        var problem = await ProblemAssert.IsProblem(response, HttpStatusCode.ServiceUnavailable);
        Assert.Equal(TimeSpan.FromSeconds(5), response.Headers.RetryAfter?.Delta);
        // Nothing was sent, so nothing was placed: not the outcome-unknown answer.
        Assert.NotEqual(UncertainOutcome.ProblemType, problem.GetProperty("type").GetString());
        Assert.Equal(product, Assert.Single((await client.GetFromJsonAsync<BasketResponse>("/api/basket"))!.Items).ProductId);
    }

    [Fact]
    public async Task Answered_checkouts_are_kept_for_the_retention_window_and_unanswered_ones_for_ever()
    {
        var client = basket.CreateClientWithToken(basket.Tokens.Issue(Guid.NewGuid(), "customer"));
        await client.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = Guid.NewGuid(), quantity = 1 } } });
        var key = $"kept-{Guid.NewGuid():N}";
        var before = DateTimeOffset.UtcNow;
        Assert.Equal(HttpStatusCode.Accepted, (await client.SendAsync(Checkout(key))).StatusCode);

        await using var scope = basket.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<BasketDb>();
        var answeredAt = await db.Checkouts.Where(c => c.IdempotencyKey == key).Select(c => c.AnsweredAtTicks).SingleAsync();
        Assert.InRange(answeredAt!.Value, before.UtcTicks, DateTimeOffset.UtcNow.UtcTicks);
        var unanswered = new BasketCheckout { CustomerId = Guid.NewGuid(), IdempotencyKey = $"open-{Guid.NewGuid():N}", Items = "[]" };
        db.Checkouts.Add(unanswered);
        await db.SaveChangesAsync();

        // Within the window nothing goes; a day later the answered one does, the unanswered one stays.
        await CheckoutRetention.PurgeAsync(db, before - TimeSpan.FromHours(24), CancellationToken.None);
        Assert.True(await db.Checkouts.AnyAsync(c => c.IdempotencyKey == key));
        await CheckoutRetention.PurgeAsync(db, DateTimeOffset.UtcNow.AddHours(25) - TimeSpan.FromHours(24), CancellationToken.None);
        Assert.False(await db.Checkouts.AnyAsync(c => c.IdempotencyKey == key));
        Assert.True(await db.Checkouts.AnyAsync(c => c.IdempotencyKey == unanswered.IdempotencyKey));
    }

    [Fact]
    public async Task A_key_reused_after_its_checkout_was_purged_is_422_and_the_lines_stay_in_the_basket()
    {
        var client = basket.CreateClientWithToken(basket.Tokens.Issue(Guid.NewGuid(), "customer"));
        var items = new[] { new { productId = Guid.NewGuid(), quantity = 1 } };
        var key = $"cart-hash-{Guid.NewGuid():N}";
        await client.PutAsJsonAsync("/api/basket", new { items });
        // A day ago.
        basket.OrderClock = () => DateTimeOffset.UtcNow.AddDays(-1);
        try
        {
            Assert.Equal(HttpStatusCode.Accepted, (await client.SendAsync(Checkout(key))).StatusCode);
        }
        finally
        {
            basket.OrderClock = null;
        }
        await using (var scope = basket.Services.CreateAsyncScope())
        {
            await CheckoutRetention.PurgeAsync(scope.ServiceProvider.GetRequiredService<BasketDb>(), DateTimeOffset.UtcNow.AddMinutes(1), CancellationToken.None);
        }

        // The next day, the same cart and the same key (a client that derives keys from the cart's contents).
        await client.PutAsJsonAsync("/api/basket", new { items });
        var reused = await client.SendAsync(Checkout(key));

        await ProblemAssert.NamesField(reused, "Idempotency-Key", (HttpStatusCode)422);
        var shown = (await client.GetFromJsonAsync<BasketResponse>("/api/basket"))!;
        Assert.Equal([new BasketLineResponse(items[0].productId, 1)], shown.Items);
        Assert.Null(shown.Checkout);
        // A new key checks the cart out.
        Assert.Equal(HttpStatusCode.Accepted, (await client.SendAsync(Checkout($"{key}-2"))).StatusCode);
    }

    [Fact]
    public async Task Two_checkouts_with_different_keys_order_one_basket_once()
    {
        var client = basket.CreateClientWithToken(basket.Tokens.Issue(Guid.NewGuid(), "customer"));
        await client.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = Guid.NewGuid(), quantity = 2 } } });
        string first = $"first-{Guid.NewGuid()}", second = $"second-{Guid.NewGuid()}";
        // The second checkout comes while the first is at ordering.
        var hold = basket.Hold = new BasketFactory.OrderingHold();
        HttpResponseMessage[] answers;
        try
        {
            var firstAnswer = client.SendAsync(Checkout(first));
            await hold.Taken.Task.WaitAsync(TimeSpan.FromSeconds(30));
            var secondAnswer = await client.SendAsync(Checkout(second));
            hold.Answer.SetResult();
            answers = [await firstAnswer, secondAnswer];
        }
        finally
        {
            basket.Hold = null;
        }

        Assert.Equal([HttpStatusCode.Accepted, HttpStatusCode.Conflict], answers.Select(a => a.StatusCode));
        Assert.Single(basket.Placed, p => p.Key == first || p.Key == second);
        Assert.Empty((await client.GetFromJsonAsync<BasketResponse>("/api/basket"))!.Items);
    }

    [Fact]
    public async Task A_retry_with_the_same_key_gets_the_same_order_and_leaves_a_new_basket_alone()
    {
        var client = basket.CreateClientWithToken(basket.Tokens.Issue(Guid.NewGuid(), "customer"));
        var key = $"retry-{Guid.NewGuid()}";
        await client.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = Guid.NewGuid(), quantity = 1 } } });
        var firstAnswer = await client.SendAsync(Checkout(key));
        var first = await firstAnswer.Content.ReadFromJsonAsync<JsonElement>();
        var refill = Guid.NewGuid();
        await client.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = refill, quantity = 3 } } });

        var retry = await client.SendAsync(Checkout(key));

        Assert.Equal(HttpStatusCode.Accepted, retry.StatusCode);
        Assert.Equal(first.GetProperty("orderId").GetGuid(), (await retry.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid());
        Assert.False(firstAnswer.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal("true", Assert.Single(retry.Headers.GetValues("Idempotent-Replayed")));
        Assert.Single(basket.Placed, p => p.Key == key);
        Assert.Equal([new BasketLineResponse(refill, 3)], (await client.GetFromJsonAsync<BasketResponse>("/api/basket"))!.Items);
    }

    [Fact]
    public async Task A_checkout_whose_retry_placed_the_order_first_answers_with_that_order()
    {
        var client = basket.CreateClientWithToken(basket.Tokens.Issue(Guid.NewGuid(), "customer"));
        var key = $"race-{Guid.NewGuid()}";
        (await client.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = Guid.NewGuid(), quantity = 1 } } })).EnsureSuccessStatusCode();
        var first = new BasketFactory.OrderingHold();
        basket.Holds.Enqueue(first);

        // The first attempt takes the lines and waits on ordering; the client retries with its key meanwhile, and
        // ordering makes the order for the retry. The first attempt's answer is then ordering's replay of that order.
        var taking = client.SendAsync(Checkout(key));
        await first.Taken.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var retry = await client.SendAsync(Checkout(key));
        first.Answer.SetResult();
        var original = await taking;

        Assert.Equal(HttpStatusCode.Accepted, retry.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, original.StatusCode);
        var ordered = basket.Ordered[key];
        Assert.Equal(ordered, (await retry.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid());
        Assert.Equal(ordered, (await original.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid());
        Assert.Equal("true", Assert.Single(original.Headers.GetValues("Idempotent-Replayed")));
        Assert.Empty((await client.GetFromJsonAsync<BasketResponse>("/api/basket"))!.Items);
    }

    [Fact]
    public async Task A_customer_who_goes_away_mid_checkout_still_gets_the_order_and_a_retry_gets_its_answer()
    {
        var client = basket.CreateClientWithToken(basket.Tokens.Issue(Guid.NewGuid(), "customer"));
        var key = $"gone-{Guid.NewGuid()}";
        (await client.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = Guid.NewGuid(), quantity = 1 } } })).EnsureSuccessStatusCode();
        var hold = basket.Hold = new BasketFactory.OrderingHold();
        try
        {
            // The tab is closed while ordering is still deciding: the client goes away once ordering has the order and
            // before it answers, whatever the timing on a busy machine.
            using var gone = new CancellationTokenSource();
            var checkout = client.SendAsync(Checkout(key), gone.Token);
            await hold.Taken.Task.WaitAsync(TimeSpan.FromSeconds(30));
            await gone.CancelAsync();
            hold.Answer.SetResult();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => checkout);

            // Basket still sees the call through and records ordering's answer.
            for (var waited = 0; !await AnswerRecordedAsync(key) && waited < 100; waited++)
            {
                await Task.Delay(100);
            }
            Assert.True(await AnswerRecordedAsync(key), "the checkout was left without ordering's answer");
        }
        finally
        {
            basket.Hold = null;
        }

        var retry = await client.SendAsync(Checkout(key));

        Assert.Equal(HttpStatusCode.Accepted, retry.StatusCode);
        Assert.Single(basket.Placed, p => p.Key == key);
        Assert.Empty((await client.GetFromJsonAsync<BasketResponse>("/api/basket"))!.Items);
    }

    [Fact]
    public async Task A_checkout_whose_order_ordering_may_have_saved_stays_unfinished_until_its_key_settles_it()
    {
        var client = basket.CreateClientWithToken(basket.Tokens.Issue(Guid.NewGuid(), "customer"));
        var product = Guid.NewGuid();
        var key = $"uncertain-{Guid.NewGuid()}";
        (await client.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = product, quantity = 1 } } })).EnsureSuccessStatusCode();
        basket.OrderingLosesCommitAnswer = true;
        JsonElement unfinished;
        try
        {
            unfinished = await ProblemAssert.IsProblem(await client.SendAsync(Checkout(key)), HttpStatusCode.ServiceUnavailable);
        }
        finally
        {
            basket.OrderingLosesCommitAnswer = false;
        }
        var shown = (await client.GetFromJsonAsync<BasketResponse>("/api/basket"))!;
        // Another checkout would order the same lines a second time.
        var another = await client.SendAsync(Checkout($"another-{Guid.NewGuid()}"));
        var settled = await client.SendAsync(Checkout(key));

        Assert.Equal(key, unfinished.GetProperty("idempotencyKey").GetString());
        // Ordering's type for the same meaning: the order may exist, retry with the key.
        Assert.Equal(UncertainOutcome.ProblemType, unfinished.GetProperty("type").GetString());
        Assert.Empty(shown.Items);
        Assert.Equal(key, shown.Checkout!.IdempotencyKey);
        await ProblemAssert.IsProblem(another, HttpStatusCode.Conflict);
        Assert.Equal(HttpStatusCode.Accepted, settled.StatusCode);
        Assert.Equal(basket.Ordered[key], (await settled.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid());
        Assert.DoesNotContain(basket.Placed, p => p.Key!.StartsWith("another-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_retry_of_an_unanswered_checkout_that_fails_again_keeps_it_unfinished_so_nothing_is_ordered_twice()
    {
        var client = basket.CreateClientWithToken(basket.Tokens.Issue(Guid.NewGuid(), "customer"));
        var product = Guid.NewGuid();
        var key = $"unanswered-{Guid.NewGuid()}";
        (await client.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = product, quantity = 1 } } })).EnsureSuccessStatusCode();
        // The first attempt reaches ordering, which places the order, and its answer is lost.
        var hold = basket.Hold = new BasketFactory.OrderingHold();
        try
        {
            using var gone = new CancellationTokenSource();
            var first = client.SendAsync(Checkout(key), gone.Token);
            await hold.Taken.Task.WaitAsync(TimeSpan.FromSeconds(30));
            basket.OrderingDown = true;
            basket.OrderingFails = HttpStatusCode.ServiceUnavailable;
            hold.Answer.SetException(new HttpRequestException(HttpRequestError.ResponseEnded, "the connection dropped mid-answer"));
            await ProblemAssert.IsProblem(await first, HttpStatusCode.ServiceUnavailable);
        }
        finally
        {
            basket.Hold = null;
        }
        try
        {
            // Retries that meet ordering down (never sent) or failing inside (5xx) cannot tell whether the first placed it.
            var unreachable = await ProblemAssert.IsProblem(await client.SendAsync(Checkout(key)), HttpStatusCode.ServiceUnavailable);
            basket.OrderingDown = false;
            var failing = await ProblemAssert.IsProblem(await client.SendAsync(Checkout(key)), HttpStatusCode.ServiceUnavailable);

            Assert.Equal(key, unreachable.GetProperty("idempotencyKey").GetString());
            Assert.Equal(key, failing.GetProperty("idempotencyKey").GetString());
            Assert.All([unreachable, failing], problem => Assert.Equal(UncertainOutcome.ProblemType, problem.GetProperty("type").GetString()));
        }
        finally
        {
            basket.OrderingDown = false;
            basket.OrderingFails = null;
        }
        var shown = (await client.GetFromJsonAsync<BasketResponse>("/api/basket"))!;
        Assert.Empty(shown.Items);
        Assert.Equal(key, shown.Checkout!.IdempotencyKey);
        await ProblemAssert.IsProblem(await client.SendAsync(Checkout($"another-{Guid.NewGuid()}")), HttpStatusCode.Conflict);
        Assert.Single(basket.Placed, p => p.Key == key);
    }

    [Fact]
    public async Task When_one_attempt_gives_the_lines_back_while_another_with_its_key_places_the_order_they_leave_the_basket_again()
    {
        var client = basket.CreateClientWithToken(basket.Tokens.Issue(Guid.NewGuid(), "customer"));
        var product = Guid.NewGuid();
        var key = $"twice-{Guid.NewGuid()}";
        (await client.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = product, quantity = 2 } } })).EnsureSuccessStatusCode();
        var failing = new BasketFactory.OrderingHold { FailWith = HttpStatusCode.ServiceUnavailable };
        var placing = new BasketFactory.OrderingHold();
        basket.Holds.Enqueue(failing);
        basket.Holds.Enqueue(placing);

        // The first attempt is at ordering when the client, impatient, sends it again with the same key.
        var first = client.SendAsync(Checkout(key));
        await failing.Taken.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var second = client.SendAsync(Checkout(key));
        await placing.Taken.Task.WaitAsync(TimeSpan.FromSeconds(30));
        // The first fails inside ordering and gives the lines back; then the second's order is placed.
        failing.Answer.SetResult();
        await ProblemAssert.IsProblem(await first, HttpStatusCode.ServiceUnavailable);
        placing.Answer.SetResult();
        var placed = await second;

        Assert.Equal(HttpStatusCode.Accepted, placed.StatusCode);
        var shown = (await client.GetFromJsonAsync<BasketResponse>("/api/basket"))!;
        Assert.Empty(shown.Items);
        Assert.Null(shown.Checkout);
        await ProblemAssert.NamesField(await client.SendAsync(Checkout($"new-{Guid.NewGuid()}")), "items");
        var again = await client.SendAsync(Checkout(key));
        Assert.Equal((await placed.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid(),
            (await again.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid());
        Assert.Single(basket.Placed, p => p.Key == key);
    }

    [Fact]
    public async Task A_first_checkout_that_ordering_fails_gives_the_lines_back()
    {
        var client = basket.CreateClientWithToken(basket.Tokens.Issue(Guid.NewGuid(), "customer"));
        var product = Guid.NewGuid();
        (await client.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = product, quantity = 2 } } })).EnsureSuccessStatusCode();
        basket.OrderingFails = HttpStatusCode.ServiceUnavailable;
        try
        {
            // Ordering looks the key up before anything else, so a new key it failed on placed nothing.
            await ProblemAssert.IsProblem(await client.SendAsync(Checkout($"fails-{Guid.NewGuid()}")), HttpStatusCode.ServiceUnavailable);
        }
        finally
        {
            basket.OrderingFails = null;
        }

        var shown = (await client.GetFromJsonAsync<BasketResponse>("/api/basket"))!;
        Assert.Equal([new BasketLineResponse(product, 2)], shown.Items);
        Assert.Null(shown.Checkout);
    }

    [Fact]
    public async Task While_its_database_is_locked_a_write_is_503_with_retry_after_and_changes_nothing()
    {
        await using var impatient = basket.WithImpatientDatabase("basket");
        var client = impatient.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", basket.Tokens.Issue(Guid.NewGuid(), "customer"));
        var kept = Guid.NewGuid();
        (await client.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = kept, quantity = 1 } } })).EnsureSuccessStatusCode();

        await using (await basket.LockDatabaseAsync("basket"))
        {
            var refused = await client.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = Guid.NewGuid(), quantity = 2 } } });

            await ProblemAssert.IsProblem(refused, HttpStatusCode.ServiceUnavailable);
            Assert.Equal(TimeSpan.FromSeconds(5), refused.Headers.RetryAfter?.Delta);
        }

        Assert.Equal([new BasketLineResponse(kept, 1)], (await client.GetFromJsonAsync<BasketResponse>("/api/basket"))!.Items);
    }

    [Fact]
    public async Task An_order_placed_whose_answer_the_locked_database_cannot_record_leaves_the_checkout_unfinished_not_nothing_changed()
    {
        await using var impatient = basket.WithImpatientDatabase("basket");
        var client = impatient.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", basket.Tokens.Issue(Guid.NewGuid(), "customer"));
        var key = $"unrecorded-{Guid.NewGuid()}";
        (await client.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = Guid.NewGuid(), quantity = 1 } } })).EnsureSuccessStatusCode();
        var hold = basket.Hold = new BasketFactory.OrderingHold();
        JsonElement unfinished;
        try
        {
            var checkout = client.SendAsync(Checkout(key));
            await hold.Taken.Task.WaitAsync(TimeSpan.FromSeconds(30));
            // Ordering places the order; meanwhile another writer holds basket's database.
            await using (await basket.LockDatabaseAsync("basket"))
            {
                hold.Answer.SetResult();
                unfinished = await ProblemAssert.IsProblem(await checkout, HttpStatusCode.ServiceUnavailable);
            }
        }
        finally
        {
            basket.Hold = null;
        }
        // A retry meets the database locked again: ordering replays its order, which basket cannot record either. Its 503 is
        // not the replayed answer, so it does not say it is.
        HttpResponseMessage unfinishedRetry;
        await using (await basket.LockDatabaseAsync("basket"))
        {
            unfinishedRetry = await client.SendAsync(Checkout(key));
        }
        var settled = await client.SendAsync(Checkout(key));

        Assert.Equal(key, unfinished.GetProperty("idempotencyKey").GetString());
        await ProblemAssert.IsProblem(unfinishedRetry, HttpStatusCode.ServiceUnavailable);
        Assert.False(unfinishedRetry.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(HttpStatusCode.Accepted, settled.StatusCode);
        Assert.Equal(basket.Ordered[key], (await settled.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid());
        Assert.Empty((await client.GetFromJsonAsync<BasketResponse>("/api/basket"))!.Items);
        Assert.Single(basket.Placed, p => p.Key == key);
    }

    private async Task<bool> AnswerRecordedAsync(string key)
    {
        await using var scope = basket.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<BasketDb>();
        return await db.Checkouts.AnyAsync(c => c.IdempotencyKey == key && c.ResponseStatus != null);
    }

    [Fact]
    public async Task The_same_key_with_another_payment_method_is_422_and_orders_nothing_more()
    {
        var client = basket.CreateClientWithToken(basket.Tokens.Issue(Guid.NewGuid(), "customer"));
        var key = $"method-{Guid.NewGuid()}";
        await client.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = Guid.NewGuid(), quantity = 1 } } });
        var first = await (await client.SendAsync(Checkout(key))).Content.ReadFromJsonAsync<JsonElement>();

        var refused = await ProblemAssert.IsProblem(await client.SendAsync(Checkout(key, "tok_mastercard")), HttpStatusCode.UnprocessableEntity);
        var retry = await client.SendAsync(Checkout(key, " tok_visa "));

        Assert.True(refused.GetProperty("errors").TryGetProperty("Idempotency-Key", out _), refused.ToString());
        Assert.Equal(HttpStatusCode.Accepted, retry.StatusCode);
        Assert.Equal(first.GetProperty("orderId").GetGuid(), (await retry.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid());
        Assert.Single(basket.Placed, p => p.Key == key);
    }

    [Fact]
    public async Task The_openapi_document_lists_every_answer_of_checkout()
    {
        var checkout = await OpenApiAssert.OperationAsync(basket.CreateClient(), "POST", "/api/basket/checkout");

        OpenApiAssert.Answers(checkout, 202, 400, 401, 409, 413, 415, 422, 503);
        OpenApiAssert.SuccessesDeclareHeader(checkout, "Idempotent-Replayed");
        Assert.True(OpenApiAssert.RequiresBearer(checkout));
        await OpenApiAssert.EveryOperationDocumentsItsAnswersAsync(basket.CreateClient());
    }

    [Fact]
    public async Task When_ordering_is_down_checkout_is_503_and_the_basket_is_kept()
    {
        var client = basket.CreateClientWithToken(basket.Tokens.Issue(Guid.NewGuid(), "customer"));
        await client.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = Guid.NewGuid(), quantity = 1 } } });
        basket.OrderingDown = true;
        try
        {
            await ProblemAssert.IsProblem(await client.SendAsync(Checkout("key-down")), HttpStatusCode.ServiceUnavailable);
        }
        finally
        {
            basket.OrderingDown = false;
        }
        Assert.Single((await client.GetFromJsonAsync<BasketResponse>("/api/basket"))!.Items);
        var noKey = await client.PostAsJsonAsync("/api/basket/checkout", new { });
        await ProblemAssert.NamesField(noKey, "Idempotency-Key");
        var twoKeys = Checkout("key-a");
        twoKeys.Headers.Add("Idempotency-Key", "key-b");
        await ProblemAssert.NamesField(await client.SendAsync(twoKeys), "Idempotency-Key");
        Assert.DoesNotContain(basket.Placed, p => p.Key?.Contains("key-a", StringComparison.Ordinal) == true);
    }

    [Theory]
    [InlineData("../tok_visa")]
    [InlineData("tok visa")]
    [InlineData("tok_visa_with_a_name_far_longer_than_any_payment_method_token_can_be_in_mercato")]
    public async Task A_malformed_payment_method_is_400_naming_it_and_takes_nothing_from_the_basket(string paymentMethod)
    {
        var client = basket.CreateClientWithToken(basket.Tokens.Issue(Guid.NewGuid(), "customer"));
        await client.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = Guid.NewGuid(), quantity = 1 } } });
        var key = $"malformed-{Guid.NewGuid()}";

        await ProblemAssert.NamesField(await client.SendAsync(Checkout(key, paymentMethod)), "paymentMethod");

        var after = (await client.GetFromJsonAsync<BasketResponse>("/api/basket"))!;
        Assert.Single(after.Items);
        Assert.Null(after.Checkout);
        Assert.DoesNotContain(basket.Placed, p => p.Key == key);
    }

    [Fact]
    public async Task When_ordering_answers_too_late_the_checkout_stays_unfinished_and_only_a_retry_with_its_key_finishes_it()
    {
        var client = basket.CreateClientWithToken(basket.Tokens.Issue(Guid.NewGuid(), "customer"));
        var product = Guid.NewGuid();
        var key = $"slow-{Guid.NewGuid()}";
        await client.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = product, quantity = 1 } } });
        // Beyond the sidecar pipeline's attempt timeout (TargetPolicy.AttemptTimeoutMs): Polly gives up, not the test.
        basket.OrderingDelay = TimeSpan.FromMilliseconds(TargetPolicy.Default.AttemptTimeoutMs + 5_000);
        HttpResponseMessage unanswered;
        try
        {
            unanswered = await client.SendAsync(Checkout(key));
        }
        finally
        {
            basket.OrderingDelay = TimeSpan.Zero;
        }

        // Ordering may have made the order: the lines are not given back to be ordered again under a new key.
        var problem = await ProblemAssert.IsProblem(unanswered, HttpStatusCode.ServiceUnavailable);
        Assert.Equal(key, problem.GetProperty("idempotencyKey").GetString());
        Assert.NotNull(unanswered.Headers.RetryAfter);
        var shown = (await client.GetFromJsonAsync<BasketResponse>("/api/basket"))!;
        Assert.Empty(shown.Items);
        Assert.Equal(key, shown.Checkout!.IdempotencyKey);
        Assert.Equal([new BasketLineResponse(product, 1)], shown.Checkout.Items);
        // What a retry must send again with the key.
        Assert.Equal("tok_visa", shown.Checkout.PaymentMethod);
        var edit = await ProblemAssert.IsProblem(
            await client.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = product, quantity = 2 } } }), HttpStatusCode.Conflict);
        Assert.Equal(key, edit.GetProperty("idempotencyKey").GetString());
        var other = await ProblemAssert.IsProblem(await client.SendAsync(Checkout($"other-{Guid.NewGuid()}")), HttpStatusCode.Conflict);
        Assert.Equal(key, other.GetProperty("idempotencyKey").GetString());

        var finished = await client.SendAsync(Checkout(key));

        // Ordering had taken the order: the retry gets it again, and says so.
        Assert.Equal(HttpStatusCode.Accepted, finished.StatusCode);
        Assert.Equal("true", Assert.Single(finished.Headers.GetValues("Idempotent-Replayed")));
        Assert.Equal(basket.Ordered[key], (await finished.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid());
        Assert.Single(basket.Placed, p => p.Key == key);
        var after = (await client.GetFromJsonAsync<BasketResponse>("/api/basket"))!;
        Assert.Empty(after.Items);
        Assert.Null(after.Checkout);
        (await client.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = product, quantity = 2 } } })).EnsureSuccessStatusCode();
    }
}
