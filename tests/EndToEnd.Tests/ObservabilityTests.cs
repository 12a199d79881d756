using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Mercato.EndToEnd.Tests;

/// <summary>
/// Tracing, metrics and health from outside: spans every process wrote (Telemetry:SpanDirectory), each instance's
/// /metrics and /health endpoints.
/// </summary>
public abstract partial class ObservabilitySuite(MercatoSystem system)
{
    private static readonly Guid Product = new("00000000-0000-4000-8000-000000000022");

    private sealed record Span(string Service, string TraceId, string SpanId, string? ParentSpanId, string Name, Dictionary<string, string> Tags);

    private sealed record Instance(string Service, string Address);

    private async Task<List<Instance>> InstancesAsync(HttpClient admin)
    {
        var services = await admin.GetFromJsonAsync<JsonElement>("/api/registry/services");
        return [.. services.EnumerateArray().SelectMany(s => s.GetProperty("instances").EnumerateArray())
            .Select(i => new Instance(i.GetProperty("serviceName").GetString()!, i.GetProperty("address").GetString()!))];
    }

    private List<Span> ReadSpans()
    {
        var spans = new List<Span>();
        foreach (var file in Directory.EnumerateFiles(system.SpanDirectory, "*.jsonl"))
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            while (reader.ReadLine() is { } line)
            {
                if (line.Length == 0)
                {
                    continue;
                }
                var json = JsonDocument.Parse(line).RootElement;
                spans.Add(new Span(
                    json.GetProperty("service").GetString()!, json.GetProperty("traceId").GetString()!, json.GetProperty("spanId").GetString()!,
                    json.GetProperty("parentSpanId").GetString(), json.GetProperty("name").GetString()!,
                    json.GetProperty("tags").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!)));
            }
        }
        return spans;
    }

    private async Task<(string OrderId, Guid CustomerId)> PlaceOrderAsync()
    {
        var admin = await system.AdminAsync();
        await MercatoSystem.SetStockAsync(admin, Product, 1000);
        var (customer, customerId, _) = await system.NewCustomerAsync();
        var place = new HttpRequestMessage(HttpMethod.Post, "/api/orders")
        {
            Content = JsonContent.Create(new { items = new[] { new { productId = Product, quantity = 2 } } }),
        };
        place.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
        var placed = await customer.SendAsync(place);
        Assert.Equal(HttpStatusCode.Accepted, placed.StatusCode);
        return ((await placed.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid().ToString(), customerId);
    }

    [SkippableFact]
    public async Task One_order_placed_through_the_gateway_is_one_trace_across_http_and_messages()
    {
        var (orderId, customerId) = await PlaceOrderAsync();

        // Wait until the last hop (notification, analytics) has handled the outcome, then read the spans.
        string[] wanted = ["gateway", "ordering", "payment", "inventory", "notification", "analytics"];
        // Generous: on scale-out a cold replica's first message costs ~20 s of code generation per hop.
        var deadline = DateTime.UtcNow.AddSeconds(120);
        List<Span> trace = [];
        while (DateTime.UtcNow < deadline)
        {
            var spans = ReadSpans();
            var traceIds = spans.Where(s => s.Tags.GetValueOrDefault("order.id") == orderId).Select(s => s.TraceId).Distinct().ToList();
            Assert.True(traceIds.Count <= 1, $"order {orderId} is spread over {traceIds.Count} traces");
            trace = traceIds.Count == 1 ? [.. spans.Where(s => s.TraceId == traceIds[0])] : [];
            // A span is written when it ends, so a handler's span can still be open after its child's send is on disk:
            // wait until every service is there and the trace has one root, or the deadline says it never will.
            var ids = trace.Select(s => s.SpanId).ToHashSet();
            if (wanted.All(service => trace.Any(s => s.Service == service))
                && trace.Count(s => s.ParentSpanId is null || !ids.Contains(s.ParentSpanId)) == 1)
            {
                break;
            }
            await Task.Delay(500);
        }
        var services = trace.Select(s => s.Service).Distinct().Order().ToList();
        var others = ReadSpans().Where(s => s.TraceId != trace.FirstOrDefault()?.TraceId && s.Service is "inventory" or "notification")
            .Select(s => $"{s.Service}:{s.Name}").Distinct().Take(20);
        Assert.True(wanted.All(services.Contains),
            $"the order's trace has spans from {string.Join(", ", services)}; inventory/notification spans elsewhere: {string.Join(", ", others)}");

        // One root, the gateway's server span for the POST (its parent, if any, is the caller's); every other span's
        // parent is in the trace.
        var byId = trace.ToDictionary(s => s.SpanId);
        var roots = trace.Where(s => s.ParentSpanId is null || !byId.ContainsKey(s.ParentSpanId)).ToList();
        Assert.True(roots.Count == 1, $"roots: {string.Join("; ", roots.Select(r => $"{r.Service} {r.Name}"))}");
        Assert.Equal("gateway", roots[0].Service);

        // Across a message hop: the payment handler's span descends from a span ordering emitted.
        static bool DescendsFrom(Span span, string service, Dictionary<string, Span> index)
        {
            for (var parent = span.ParentSpanId; parent is not null && index.TryGetValue(parent, out var up); parent = up.ParentSpanId)
            {
                if (up.Service == service)
                {
                    return true;
                }
            }
            return false;
        }
        Assert.Contains(trace, s => s.Service == "payment" && s.Tags.ContainsKey("payment.result") && DescendsFrom(s, "ordering", byId));
        Assert.Contains(trace, s => s.Service == "notification" && DescendsFrom(s, "ordering", byId));

        // The spec's tags.
        Assert.Contains(trace, s => s.Service == "ordering" && s.Tags.GetValueOrDefault("user.id") == customerId.ToString() && s.Tags.GetValueOrDefault("order.item_count") == "1");
        Assert.Contains(trace, s => s.Service == "payment" && s.Tags.GetValueOrDefault("payment.result") == "Captured");
    }

    [SkippableFact]
    public async Task Registry_chatter_and_health_probes_are_left_out_of_the_traces()
    {
        // The registry's admin API is traced like any API; its own protocol (registration, a heartbeat from every
        // instance every few seconds, lookups, policy pulls) and the health probes it sends are not, on either side.
        var admin = await system.AdminAsync();
        (await admin.GetAsync("/api/registry/services")).EnsureSuccessStatusCode();
        static bool IsAdminRead(Span s) => s.Service == "registry" && s.Tags.GetValueOrDefault("url.path") == "/api/registry/services";
        var spans = ReadSpans();
        for (var attempt = 0; attempt < 100 && !spans.Any(IsAdminRead); attempt++)
        {
            await Task.Delay(100);
            spans = ReadSpans();
        }
        Assert.Contains(spans, IsAdminRead);

        // Server spans carry url.path, client spans url.full.
        static string? PathOf(Span s) =>
            s.Tags.GetValueOrDefault("url.path") ?? (Uri.TryCreate(s.Tags.GetValueOrDefault("url.full"), UriKind.Absolute, out var url) ? url.AbsolutePath : null);
        static bool IsChatter(Span s) =>
            PathOf(s) is { } path && (path.StartsWith("/registry/", StringComparison.Ordinal) || path.StartsWith("/health", StringComparison.Ordinal));
        var chatter = spans.Where(IsChatter).Take(5).ToList();
        Assert.True(chatter.Count == 0, $"traced chatter: {string.Join("; ", chatter.Select(c => $"{c.Service} {c.Name} {PathOf(c)}"))}");
    }

    [GeneratedRegex("""^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? (-?[0-9.]+([eE][-+]?[0-9]+)?|[-+]?Inf|NaN)( -?[0-9]+)?$""")]
    private static partial Regex SampleLine();

    private static void AssertPrometheusText(string service, string text)
    {
        foreach (var line in text.Split('\n').Where(l => l.Length > 0 && !l.StartsWith('#')))
        {
            Assert.True(SampleLine().IsMatch(line), $"{service}: not a Prometheus sample line: {line}");
        }
    }

    private static long RequestsTotal(string text, string service) => text.Split('\n')
        .Where(l => l.StartsWith("requests_total{", StringComparison.Ordinal) && l.Contains($"service=\"{service}\"", StringComparison.Ordinal))
        .Sum(l => (long)double.Parse(l[(l.LastIndexOf('}') + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture));

    /// <summary>A counter's value summed over its series (any labels) in one or more Prometheus texts.</summary>
    private static double CounterSum(string text, string name) => text.Split('\n')
        .Where(l => l.StartsWith(name + "{", StringComparison.Ordinal) || l.StartsWith(name + " ", StringComparison.Ordinal))
        .Sum(l => double.Parse(l[(Math.Max(l.LastIndexOf('}'), name.Length) + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture));

    [SkippableFact]
    public async Task Every_service_exports_the_spec_metrics_in_prometheus_text_and_counts_requests_exactly()
    {
        var admin = await system.AdminAsync();
        (await admin.GetAsync("/api/home")).EnsureSuccessStatusCode();
        var instances = await InstancesAsync(admin);
        using var scraper = new HttpClient();

        foreach (var instance in instances)
        {
            // One request to every instance, so each has request series to show.
            using var direct = system.ClientWithToken(admin.DefaultRequestHeaders.Authorization!.Parameter!);
            (await direct.GetAsync($"{instance.Address}/api/{instance.Service}/admin/policies")).EnsureSuccessStatusCode();
            var text = await scraper.GetStringAsync($"{instance.Address}/metrics");
            AssertPrometheusText(instance.Service, text);
            var lines = text.Split('\n');
            Assert.Contains(lines, l => l.StartsWith("request_duration_seconds_bucket{", StringComparison.Ordinal) && l.Contains("method=", StringComparison.Ordinal));
            Assert.Contains(lines, l => l.StartsWith("process_", StringComparison.Ordinal) || l.StartsWith("dotnet_", StringComparison.Ordinal));
            Assert.Contains(lines, l => l.StartsWith("requests_total{", StringComparison.Ordinal) && l.Contains($"service=\"{instance.Service}\"", StringComparison.Ordinal)
                && l.Contains("method=\"GET\"", StringComparison.Ordinal) && l.Contains("status=\"200\"", StringComparison.Ordinal));
            Assert.Contains(lines, l => l.StartsWith("active_connections{", StringComparison.Ordinal) && l.Contains($"service=\"{instance.Service}\"", StringComparison.Ordinal));
            if (instance.Service != "identity")
            {
                Assert.Contains(lines, l => l.StartsWith("circuit_breaker_open{", StringComparison.Ordinal) && l.Contains("target=\"identity\"", StringComparison.Ordinal));
            }
        }
        // Saga and messaging metrics move with this order (any ordering instance may have started it; earlier tests'
        // orders may already have created the series, so their values are compared).
        async Task<string> OrderingMetricsAsync() => string.Join('\n', await Task.WhenAll(instances.Where(i => i.Service == "ordering")
            .Select(i => scraper.GetStringAsync($"{i.Address}/metrics"))));
        var startedBefore = CounterSum(await OrderingMetricsAsync(), "saga_started_total");
        var confirmedBefore = CounterSum(await OrderingMetricsAsync(), "saga_confirmed_total");
        var (orderId, _) = await PlaceOrderAsync();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        string orderingMetrics;
        string? status;
        do
        {
            status = (await admin.GetFromJsonAsync<JsonElement>($"/api/orders/{orderId}")).GetProperty("status").GetString();
            orderingMetrics = await OrderingMetricsAsync();
        }
        while (!(status == "Confirmed" && CounterSum(orderingMetrics, "saga_confirmed_total") > confirmedBefore)
            && DateTime.UtcNow < deadline && await Task.Delay(250).ContinueWith(_ => true));
        Assert.Equal("Confirmed", status);
        Assert.True(CounterSum(orderingMetrics, "saga_started_total") > startedBefore, "saga_started_total did not move");
        Assert.True(CounterSum(orderingMetrics, "saga_confirmed_total") > confirmedBefore, "saga_confirmed_total did not move");
        Assert.Contains("saga_duration_seconds_bucket", orderingMetrics, StringComparison.Ordinal);
        Assert.Contains("wolverine_messages_sent", orderingMetrics, StringComparison.Ordinal);

        // The request counter moves by exactly the requests made (health probes and scrapes are not counted).
        var catalogs = instances.Where(i => i.Service == "catalog").ToList();
        async Task<long> CatalogRequestsAsync() =>
            (await Task.WhenAll(catalogs.Select(async c => RequestsTotal(await scraper.GetStringAsync($"{c.Address}/metrics"), "catalog")))).Sum();
        var before = await CatalogRequestsAsync();
        for (var i = 0; i < 7; i++)
        {
            (await system.Gateway.SendAsync(MercatoSystem.FreshRead($"/api/catalog/products?page={i + 1}&pageSize=2"))).EnsureSuccessStatusCode();
        }
        Assert.Equal(before + 7, await CatalogRequestsAsync());
    }

    /// <summary>Kills and restarts catalog: run on one profile only (the behaviour does not depend on it).</summary>
    protected async Task HealthReportsChecksWithTimingAndDependenciesWithoutFailingForThemAsync()
    {
        var admin = await system.AdminAsync();
        var instances = await InstancesAsync(admin);
        using var http = new HttpClient();
        var inventory = instances.First(i => i.Service == "inventory").Address;

        var ready = await http.GetAsync($"{inventory}/health/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        var detail = await http.GetFromJsonAsync<JsonElement>($"{inventory}/health");
        Assert.Equal("Healthy", detail.GetProperty("status").GetString());
        Assert.Equal("Healthy", detail.GetProperty("checks").GetProperty("database").GetProperty("status").GetString());
        Assert.True(detail.GetProperty("checks").GetProperty("database").GetProperty("durationMs").GetDouble() >= 0);
        Assert.Equal("Healthy", detail.GetProperty("checks").GetProperty("transport").GetProperty("status").GetString());
        Assert.Equal("Healthy", detail.GetProperty("dependencies").GetProperty("catalog").GetProperty("status").GetString());

        // Catalog goes away: inventory says so, and stays ready.
        await system.KillAsync("catalog");
        try
        {
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"{inventory}/health/ready")).StatusCode);
            var degraded = await http.GetAsync($"{inventory}/health");
            Assert.Equal(HttpStatusCode.OK, degraded.StatusCode);
            var json = await degraded.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal("Healthy", json.GetProperty("status").GetString());
            Assert.Equal("Unavailable", json.GetProperty("dependencies").GetProperty("catalog").GetProperty("status").GetString());
        }
        finally
        {
            await system.RestartAsync("catalog", "/api/catalog/products");
        }
    }
}

[Collection(SystemCollection.Name)]
public sealed class ObservabilityTests(EmbeddedSystem system) : ObservabilitySuite(system)
{
    [SkippableFact]
    public Task Health_reports_checks_with_timing_and_dependencies_without_failing_for_them() =>
        HealthReportsChecksWithTimingAndDependenciesWithoutFailingForThemAsync();
}

[Collection(ScaleOutCollection.Name)]
public sealed class ScaleOutObservabilityTests(ScaleOutSystem system) : ObservabilitySuite(system)
{
    [SkippableFact]
    public async Task Readiness_fails_when_the_service_database_is_unavailable_and_recovers_with_it()
    {
        var admin = await system.AdminAsync();
        var services = await admin.GetFromJsonAsync<JsonElement>("/api/registry/services");
        var catalog = services.EnumerateArray().Single(s => s.GetProperty("name").GetString() == "catalog")
            .GetProperty("instances")[0].GetProperty("address").GetString()!;
        using var http = new HttpClient();
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"{catalog}/health/ready")).StatusCode);

        var database = system.DatabaseOf("catalog");
        await using var postgres = new Npgsql.NpgsqlConnection(MercatoSystem.PostgresAdminConnection);
        await postgres.OpenAsync();
        async Task ExecuteAsync(string sql)
        {
            await using var command = new Npgsql.NpgsqlCommand(sql, postgres);
            await command.ExecuteNonQueryAsync();
        }
        await ExecuteAsync($"ALTER DATABASE \"{database}\" ALLOW_CONNECTIONS false");
        try
        {
            await ExecuteAsync($"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'");
            var deadline = DateTime.UtcNow.AddSeconds(30);
            HttpResponseMessage ready;
            do
            {
                ready = await http.GetAsync($"{catalog}/health/ready");
            }
            while (ready.StatusCode == HttpStatusCode.OK && DateTime.UtcNow < deadline && await Task.Delay(250).ContinueWith(_ => true));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            var json = await ready.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal("Unhealthy", json.GetProperty("checks").GetProperty("database").GetProperty("status").GetString());
        }
        finally
        {
            await ExecuteAsync($"ALTER DATABASE \"{database}\" ALLOW_CONNECTIONS true");
        }
        var recovered = DateTime.UtcNow.AddSeconds(30);
        while ((await http.GetAsync($"{catalog}/health/ready")).StatusCode != HttpStatusCode.OK)
        {
            Assert.True(DateTime.UtcNow < recovered, "catalog did not become ready again");
            await Task.Delay(250);
        }
        await system.WaitForInstancesAsync("catalog", 1, TimeSpan.FromSeconds(60));
    }
}
