using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mercato.ServiceDefaults.Resilience;
using Mercato.Testing;

namespace Mercato.EndToEnd.Tests;

/// <summary>
/// The control plane driving real processes: every fault here is injected through <c>PUT /api/registry/policies</c>,
/// and every assertion is made from outside, through the gateway or an instance's own admin and metrics endpoints.
/// </summary>
[Collection(SystemCollection.Name)]
public sealed class ResilienceTests(EmbeddedSystem system) : IAsyncLifetime
{
    /// <summary>The public contract of /api/home when recommendations could not be had.</summary>
    private const string TrendingFallback = "trending-fallback";

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>Each test leaves the built-in defaults in force for the next.</summary>
    public async Task DisposeAsync() => await ApplyAsync(new MeshPolicy());

    private string? _adminToken;

    /// <summary>
    /// One admin token for the whole test: signing in is an anonymous call, which the rate-limit test throttles, and
    /// it would slow the polling that measures how fast a policy spreads.
    /// </summary>
    private async Task<HttpClient> AdminAsync() =>
        system.ClientWithToken(_adminToken ??= await system.TokenAsync(MercatoSystem.AdminEmail, MercatoSystem.AdminPassword));

    private async Task<List<MercatoSystem.Instance>> InstancesAsync() => await system.InstancesAsync(await AdminAsync());

    /// <summary>An admin client aimed at one instance directly (admin and metrics endpoints, not routed by the gateway).</summary>
    private async Task<HttpClient> DirectAsync(MercatoSystem.Instance instance) => MercatoSystem.Direct(await AdminAsync(), instance);

    private async Task<TimeSpan> ApplyAsync(MeshPolicy policy) => await system.ApplyPolicyAsync(await AdminAsync(), policy);

    private static MeshPolicy Policy(params (string Target, TargetPolicy Policy)[] targets) => MercatoSystem.Policy(targets);

    /// <summary>
    /// Sum of a metric's samples over a service's instances (from their Prometheus endpoints), for the samples whose
    /// labels contain every one of <paramref name="labels"/> (like <c>method="POST"</c>).
    /// </summary>
    private async Task<double> MetricAsync(string service, string metric, params string[] labels)
    {
        double total = 0;
        foreach (var instance in (await InstancesAsync()).Where(i => i.Service == service))
        {
            using var direct = await DirectAsync(instance);
            var text = await direct.GetStringAsync("/metrics");
            total += text.Split('\n')
                .Where(line => line.StartsWith(metric + "{", StringComparison.Ordinal) && line.Contains($"service=\"{service}\"", StringComparison.Ordinal)
                    && labels.All(label => line.Contains(label, StringComparison.Ordinal)))
                .Sum(line => double.Parse(line[(line.LastIndexOf('}') + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture));
        }
        return total;
    }

    /// <summary>Retries Polly counted in a service's instances (resilience_polly_strategy_events, event OnRetry).</summary>
    private async Task<double> PollyRetriesAsync(string service)
    {
        double total = 0;
        foreach (var instance in (await InstancesAsync()).Where(i => i.Service == service))
        {
            using var direct = await DirectAsync(instance);
            total += (await direct.GetStringAsync("/metrics")).Split('\n')
                .Where(line => line.StartsWith("resilience_polly_strategy_events_total{", StringComparison.Ordinal)
                    && line.Contains("event_name=\"OnRetry\"", StringComparison.Ordinal))
                .Sum(line => double.Parse(line[(line.LastIndexOf('}') + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture));
        }
        return total;
    }

    /// <summary>Requests a service's instances received (requests_total).</summary>
    private async Task<long> RequestsReceivedAsync(string service, string? method = null) =>
        (long)await MetricAsync(service, "requests_total", method is null ? [] : [$"method=\"{method}\""]);

    private async Task<JsonElement> GatewayPoliciesAsync() =>
        await (await AdminAsync()).GetFromJsonAsync<JsonElement>("/api/gateway/admin/policies");

    [SkippableFact]
    public async Task A_policy_change_is_in_force_on_every_instance_and_an_invalid_one_is_refused()
    {
        var admin = await AdminAsync();
        // How soon is configuration (ControlPlane:RefreshInterval), not asserted: ApplyAsync returns once every
        // instance reports the new version in force.
        await ApplyAsync(Policy(("catalog", new TargetPolicy { Retry = new RetryPolicy { MaxRetries = 4 } })));
        var inForce = await admin.GetFromJsonAsync<MeshPolicy>("/api/registry/policies", MeshPolicy.Json);

        var refused = await admin.PutAsync("/api/registry/policies",
            new StringContent("""{"targets":{"catalog":{"circuitBreaker":{"failureRatio":2}}}}""", System.Text.Encoding.UTF8, "application/json"));
        var problem = await ProblemAssert.IsProblem(refused, HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty("targets.catalog.circuitBreaker.failureRatio", out _), problem.ToString());

        var after = await admin.GetFromJsonAsync<MeshPolicy>("/api/registry/policies", MeshPolicy.Json);
        Assert.Equal(inForce!.Version, after!.Version);
        var gateway = await GatewayPoliciesAsync();
        Assert.Equal(after.Version, gateway.GetProperty("version").GetInt64());
        Assert.Equal(4, gateway.GetProperty("targets").GetProperty("catalog").GetProperty("retry").GetProperty("maxRetries").GetInt32());

        var customer = (await system.NewCustomerAsync()).Client;
        Assert.Equal(HttpStatusCode.Forbidden, (await customer.PutAsJsonAsync("/api/registry/policies", new MeshPolicy(), MeshPolicy.Json)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await customer.GetAsync("/api/gateway/admin/policies")).StatusCode);
    }

    [SkippableFact]
    public async Task Weighted_routing_lands_within_five_percent_and_the_canary_header_always_reaches_v2()
    {
        await ApplyAsync(Policy(("catalog", new TargetPolicy
        {
            Routing = new RoutingPolicy { Weights = { ["1.0.0"] = 90, [EmbeddedSystem.CanaryVersion] = 10 }, CanaryVersion = EmbeddedSystem.CanaryVersion },
        })));

        var versions = new List<string>();
        for (var i = 0; i < 1000; i++)
        {
            using var response = await system.Gateway.GetAsync("/api/catalog/products?pageSize=1");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            versions.Add(response.Headers.GetValues("X-Service-Version").Single());
        }
        var canaryShare = versions.Count(v => v == EmbeddedSystem.CanaryVersion) / 1000.0;
        Assert.InRange(canaryShare, 0.05, 0.15);
        Assert.Equal(1000, versions.Count(v => v is "1.0.0" or EmbeddedSystem.CanaryVersion));

        for (var i = 0; i < 100; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/api/catalog/products?pageSize=1");
            request.Headers.Add("X-Canary", "true");
            using var response = await system.Gateway.SendAsync(request);
            Assert.Equal(EmbeddedSystem.CanaryVersion, response.Headers.GetValues("X-Service-Version").Single());
        }
    }

    [SkippableFact]
    public async Task The_gateway_rate_limits_anonymous_callers_by_ip_with_429_and_retry_after()
    {
        var policy = Policy() with
        {
            Gateway = new GatewayPolicy { RateLimit = new GatewayRateLimit { AnonymousPermitsPerSecond = 1, AnonymousBurst = 5, UserPermitsPerSecond = 1000, UserBurst = 1000 } },
        };
        await ApplyAsync(policy);

        var statuses = new List<HttpResponseMessage>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < 12; i++)
        {
            statuses.Add(await system.Gateway.GetAsync("/api/catalog/products?pageSize=1"));
        }
        // The bucket gains a permit per second, so the calls may take the burst plus one per second they lasted (and one
        // for a refill falling between two of them): a bound on the limiter that holds on a slow machine too.
        var allowed = 5 + (int)clock.Elapsed.TotalSeconds + 1;
        Assert.True(statuses.Take(5).All(r => r.StatusCode == HttpStatusCode.OK), "the burst of 5 is allowed");
        var refused = statuses.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.True(refused.Count >= 12 - allowed, $"{refused.Count} of 12 refused, in {clock.Elapsed}");
        Assert.NotEmpty(refused);
        Assert.All(refused, r => Assert.True(int.Parse(r.Headers.GetValues("Retry-After").Single(), CultureInfo.InvariantCulture) >= 1));
        await ProblemAssert.IsProblem(refused[0], HttpStatusCode.TooManyRequests);

        // A signed-in user has a bucket of their own.
        var admin = await AdminAsync();
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/api/catalog/products?pageSize=1")).StatusCode);
    }

    private const int BreakMs = 8_000;

    [SkippableFact]
    public async Task Injected_errors_open_the_breaker_to_analytics_and_the_home_page_serves_trending_instead()
    {
        var (customer, _, _) = await system.NewCustomerAsync();
        var toAnalytics = new TargetPolicy
        {
            Retry = new RetryPolicy { MaxRetries = 0 },
            // A break long enough for the open phase's round trips below on a loaded machine.
            CircuitBreaker = new BreakerPolicy { FailureRatio = 0.5, MinimumThroughput = 4, SamplingDurationMs = 60_000, BreakDurationMs = BreakMs },
        };
        await ApplyAsync(Policy(("analytics", toAnalytics with { Faults = new FaultPolicy { ErrorRate = 1 } })));

        async Task<JsonElement> HomeAsync()
        {
            using var response = await customer.GetAsync("/api/home");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return await response.Content.ReadFromJsonAsync<JsonElement>();
        }

        // Four failures reach analytics and open the breaker; the page is served every time.
        var before = await RequestsReceivedAsync("analytics");
        var sinceOpened = new System.Diagnostics.Stopwatch();
        for (var i = 0; i < 4; i++)
        {
            // The breaker opens during the fourth call: timed from before it, the break is over no sooner than this says.
            if (i == 3)
            {
                sinceOpened.Start();
            }
            var home = await HomeAsync();
            Assert.Equal(TrendingFallback, home.GetProperty("recommendationsSource").GetString());
            Assert.True(home.GetProperty("profile").GetProperty("available").GetBoolean());
            Assert.Contains("recommendations", home.GetProperty("degraded").EnumerateArray().Select(d => d.GetString()));
        }

        // Open: the page still answers with the fallback and no call reaches analytics. Only calls started well within the
        // break count as open-phase calls: a slow machine must not turn one into the half-open probe.
        var openCalls = 0;
        while (openCalls < 5 && sinceOpened.ElapsedMilliseconds < BreakMs - 2_000)
        {
            Assert.Equal(TrendingFallback, (await HomeAsync()).GetProperty("recommendationsSource").GetString());
            openCalls++;
        }
        Assert.True(openCalls > 0, $"no call within the break ({sinceOpened.Elapsed} after the breaker opened)");
        Assert.Equal(before + 4, await RequestsReceivedAsync("analytics"));
        Assert.Equal("Open", (await GatewayPoliciesAsync()).GetProperty("breakers").GetProperty("analytics").GetString());

        // After the break one probe goes through; analytics still fails, so the breaker opens again.
        await Task.Delay(BreakMs + 500);
        await HomeAsync();
        Assert.Equal(before + 5, await RequestsReceivedAsync("analytics"));
        await HomeAsync();
        Assert.Equal(before + 5, await RequestsReceivedAsync("analytics"));

        // Analytics recovers (only its faults change, so the gateway's breaker keeps its state): the next probe closes it.
        await ApplyAsync(Policy(("analytics", toAnalytics)));
        Assert.Equal("Open", (await GatewayPoliciesAsync()).GetProperty("breakers").GetProperty("analytics").GetString());
        await Task.Delay(BreakMs + 500);
        var recovered = await HomeAsync();
        Assert.NotEqual(TrendingFallback, recovered.GetProperty("recommendationsSource").GetString());
        Assert.Equal("Closed", (await GatewayPoliciesAsync()).GetProperty("breakers").GetProperty("analytics").GetString());
        Assert.True(await RequestsReceivedAsync("analytics") > before + 5);

        // The breaker's state is a metric too.
        var gateway = (await InstancesAsync()).Single(i => i.Service == "gateway");
        using var direct = await DirectAsync(gateway);
        var metrics = await direct.GetStringAsync("/metrics");
        Assert.Contains(metrics.Split('\n'), line => line.StartsWith("circuit_breaker_state{", StringComparison.Ordinal)
            && line.Contains("target=\"analytics\"", StringComparison.Ordinal) && line.Contains("service=\"gateway\"", StringComparison.Ordinal));
        Assert.Contains(metrics.Split('\n'), line => line.StartsWith("fallbacks_served", StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task With_analytics_slowed_past_its_timeout_the_home_page_answers_with_trending_and_the_breaker_opens()
    {
        var (customer, _, _) = await system.NewCustomerAsync();
        // Slower than the home page's 2 s budget for a part, well within the pipeline's own 5 s attempt timeout.
        await ApplyAsync(Policy(("analytics", new TargetPolicy
        {
            Retry = new RetryPolicy { MaxRetries = 0 },
            CircuitBreaker = new BreakerPolicy { FailureRatio = 0.5, MinimumThroughput = 4, SamplingDurationMs = 60_000, BreakDurationMs = 60_000 },
            Faults = new FaultPolicy { LatencyMs = 4_000, LatencyRate = 1 },
        })));

        async Task<JsonElement> HomeAsync()
        {
            using var response = await customer.GetAsync("/api/home");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return await response.Content.ReadFromJsonAsync<JsonElement>();
        }

        var before = await RequestsReceivedAsync("analytics");
        foreach (var home in await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => HomeAsync())))
        {
            Assert.Equal(TrendingFallback, home.GetProperty("recommendationsSource").GetString());
            Assert.True(home.GetProperty("recentOrders").GetProperty("available").GetBoolean());
            Assert.Equal(JsonValueKind.Array, home.GetProperty("recommendations").ValueKind);
        }

        // Answers too slow for the page count as failures: the breaker opens, and the page stops waiting on analytics.
        Assert.Equal("Open", (await GatewayPoliciesAsync()).GetProperty("breakers").GetProperty("analytics").GetString());
        // requests_total counts a request when it is answered: the four slow ones end 4 s after they arrived.
        var reached = await RequestsReceivedAsync("analytics");
        for (var waited = 0; reached < before + 4 && waited < 60; waited++)
        {
            await Task.Delay(250);
            reached = await RequestsReceivedAsync("analytics");
        }
        Assert.Equal(before + 4, reached);
        Assert.Equal(TrendingFallback, (await HomeAsync()).GetProperty("recommendationsSource").GetString());
        Assert.Equal(reached, await RequestsReceivedAsync("analytics"));
    }

    [SkippableFact]
    public async Task Aborted_connections_from_a_service_become_a_clear_gateway_error()
    {
        await ApplyAsync(Policy(("catalog", new TargetPolicy { Faults = new FaultPolicy { AbortRate = 1 } })));

        using var impatient = new HttpClient { BaseAddress = system.Gateway.BaseAddress, Timeout = TimeSpan.FromSeconds(20) };
        using var response = await impatient.GetAsync("/api/catalog/products?pageSize=1");

        Assert.True((int)response.StatusCode is 502 or 503, $"answered {(int)response.StatusCode}");
    }

    [SkippableFact]
    public async Task Idempotent_calls_are_retried_up_to_the_limit_with_jittered_delays_and_a_post_is_not_retried()
    {
        var (customer, _, _) = await system.NewCustomerAsync();
        await ApplyAsync(Policy(("ordering", new TargetPolicy
        {
            Retry = new RetryPolicy { MaxRetries = 2, BaseDelayMs = 50, MaxDelayMs = 300 },
            CircuitBreaker = new BreakerPolicy { MinimumThroughput = 1_000 },
            Faults = new FaultPolicy { ErrorRate = 1 },
        })));

        // GET: the home page's recent orders (gateway → ordering) is tried three times, then given up.
        var delaysBefore = await MetricAsync("gateway", "resilience_retry_delay_seconds_sum", "target=\"ordering\"");
        var runs = new List<double>();
        for (var run = 0; run < 2; run++)
        {
            var gets = await RequestsReceivedAsync("ordering", "GET");
            var home = await customer.GetFromJsonAsync<JsonElement>("/api/home");
            Assert.False(home.GetProperty("recentOrders").GetProperty("available").GetBoolean());
            Assert.Equal(gets + 3, await RequestsReceivedAsync("ordering", "GET"));
            var delays = await MetricAsync("gateway", "resilience_retry_delay_seconds_sum", "target=\"ordering\"");
            runs.Add(delays - delaysBefore);
            delaysBefore = delays;
        }
        Assert.All(runs, total => Assert.True(total > 0));
        Assert.NotEqual(runs[0], runs[1]); // jitter: two runs do not wait the same
        // Polly reports its own events too (meter "Polly").
        Assert.True(await PollyRetriesAsync("gateway") > 0, "no resilience_polly_strategy_events for the retries");

        // POST: checkout (basket → ordering) reaches ordering once; the basket answers 503 and keeps the cart.
        var product = new Guid("00000000-0000-4000-8000-000000000002");
        (await customer.PutAsJsonAsync("/api/basket", new { items = new[] { new { productId = product, quantity = 1 } } })).EnsureSuccessStatusCode();
        var posts = await RequestsReceivedAsync("ordering", "POST");
        var checkout = new HttpRequestMessage(HttpMethod.Post, "/api/basket/checkout") { Content = JsonContent.Create(new { }) };
        checkout.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
        var refused = await customer.SendAsync(checkout);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal(posts + 1, await RequestsReceivedAsync("ordering", "POST"));
        var basket = await customer.GetFromJsonAsync<JsonElement>("/api/basket");
        Assert.Equal(1, basket.GetProperty("items").GetArrayLength());
    }

    [SkippableFact]
    public async Task The_bulkhead_rejects_calls_beyond_its_limit_and_the_page_falls_back()
    {
        var (customer, _, _) = await system.NewCustomerAsync();
        await ApplyAsync(Policy(("analytics", new TargetPolicy
        {
            Retry = new RetryPolicy { MaxRetries = 0 },
            Bulkhead = new BulkheadPolicy { MaxConcurrency = 1, QueueLimit = 0 },
            // Holds the only permit long enough for the other two calls to arrive on a loaded machine, within the
            // page's 2 s budget for the part.
            Faults = new FaultPolicy { LatencyMs = 1_800, LatencyRate = 1 },
        })));
        var rejectedBefore = await MetricAsync("gateway", "resilience_rejections_total", "target=\"analytics\"", "reason=\"bulkhead\"");
        var received = await RequestsReceivedAsync("analytics");

        var pages = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => customer.GetFromJsonAsync<JsonElement>("/api/home")));

        // One call holds the only permit (whether it then makes the page's 2 s budget does not matter here); the two
        // others are refused at once by the bulkhead, and their pages fall back to trending.
        var rejected = pages.Where(p => p.GetProperty("recommendationsError").GetString()?.Contains("rejected", StringComparison.Ordinal) == true).ToList();
        Assert.True(rejected.Count == 2, string.Join("; ", pages.Select(p => $"{p.GetProperty("recommendationsSource")}: {p.GetProperty("recommendationsError")}")));
        Assert.All(rejected, p => Assert.Equal(TrendingFallback, p.GetProperty("recommendationsSource").GetString()));
        Assert.Equal(rejectedBefore + 2, await MetricAsync("gateway", "resilience_rejections_total", "target=\"analytics\"", "reason=\"bulkhead\""));
        Assert.True(await RequestsReceivedAsync("analytics") - received <= 2, "rejected calls must not reach analytics");
    }
}
