using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mercato.ServiceDefaults.Resilience;
using Mercato.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using Yarp.ReverseProxy.Configuration;

namespace Mercato.Gateway.Tests;

/// <summary>
/// The system's API reference at the gateway, against a real HTTP service on loopback that publishes an OpenAPI
/// document with a public path, a path the gateway does not route and its own internal server address.
/// </summary>
public sealed class ApiReferenceTests : IAsyncLifetime
{
    private WebApplication _service = null!;
    private GatewayFactory _gateway = null!;
    private string _address = null!;
    private int _fetches;
    private volatile TaskCompletionSource? _heldFetch;
    private readonly TaskCompletionSource _fetchArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async Task InitializeAsync()
    {
        _service = await LoopbackServer.StartAsync(app => app.MapGet("/openapi/v1.json", async (HttpRequest request) =>
        {
            Interlocked.Increment(ref _fetches);
            if (_heldFetch is { } held)
            {
                _fetchArrived.TrySetResult();
                await held.Task;
            }
            return Document(request);
        }));
        _address = LoopbackServer.AddressOf(_service);
        _gateway = new GatewayFactory(new Dictionary<string, string>
        {
            ["ordering"] = _address,
            // Nothing listens there: an instance that is down.
            ["payment"] = "http://127.0.0.1:9",
        });
    }

    private static IResult Document(HttpRequest request) => Results.Json(new
    {
        openapi = "3.1.1",
        info = new { title = "stand-in", version = "1.0.0" },
        servers = new[] { new { url = $"http://{request.Host}" } },
        tags = new[] { new { name = "Ordering" }, new { name = "Registration" } },
        paths = new Dictionary<string, object>
        {
            ["/api/orders"] = new { get = Operation("Ordering", "Order") },
            ["/api/orders/{id}"] = new { get = Operation("Ordering", null) },
            ["/api/ordersummary"] = new { get = Operation("Ordering", null) },
            ["/registry/v1/instances"] = new { post = Operation("Registration", "Registration") },
        },
        components = new
        {
            schemas = new Dictionary<string, object>
            {
                ["Order"] = new { type = "object", properties = new { lines = new { type = "array", items = Ref("Line") } } },
                ["Line"] = new { type = "object" },
                ["Registration"] = new { type = "object" },
            },
        },
    });

    /// <summary>The ordering document, asked for at <paramref name="host"/>.</summary>
    private static HttpRequestMessage Ask(string host) =>
        new(HttpMethod.Get, "/openapi/services/ordering.json") { Headers = { Host = host } };

    private static Dictionary<string, string> Ref(string schema) => new() { ["$ref"] = $"#/components/schemas/{schema}" };

    private static object Operation(string tag, string? schema) => new
    {
        tags = new[] { tag },
        responses = new Dictionary<string, object>
        {
            ["200"] = schema is null ? new { } : new { content = new Dictionary<string, object> { ["application/json"] = new { schema = Ref(schema) } } },
        },
    };

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _service.DisposeAsync();
    }

    [Fact]
    public async Task A_service_document_lists_only_what_the_gateway_routes_at_the_gateway_address()
    {
        using var client = _gateway.CreateClient();

        var response = await client.GetAsync("/openapi/services/ordering.json");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var document = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("stand-in", document.GetProperty("info").GetProperty("title").GetString());
        // Ordering's public prefix is /api/orders: a sibling that only starts with the same letters is not under it.
        Assert.Equal(["/api/orders", "/api/orders/{id}"], document.GetProperty("paths").EnumerateObject().Select(p => p.Name));
        // Requests go to the gateway that served the document (a relative server), never to the service's own address.
        Assert.Equal(["/"], document.GetProperty("servers").EnumerateArray().Select(s => s.GetProperty("url").GetString()));
        // What only the unrouted path used goes with it; what the routed ones use, directly or through another schema, stays.
        Assert.Equal(["Order", "Line"], document.GetProperty("components").GetProperty("schemas").EnumerateObject().Select(s => s.Name));
        OpenApiAssert.ReferencesResolve(document);
        Assert.Equal(["Ordering"], document.GetProperty("tags").EnumerateArray().Select(t => t.GetProperty("name").GetString()));
    }

    [Fact]
    public async Task The_gateway_describes_its_own_endpoints_as_a_document_too()
    {
        using var client = _gateway.CreateClient();

        var document = await client.GetFromJsonAsync<JsonElement>("/openapi/services/gateway.json");

        var paths = document.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Contains("/api/home", paths);
        Assert.All(paths, path => Assert.StartsWith("/api/", path));
    }

    [Fact]
    public async Task An_unknown_service_is_a_404_problem_naming_it_and_a_service_that_is_down_a_503()
    {
        using var client = _gateway.CreateClient();

        var unknown = await client.GetAsync("/openapi/services/nosuch.json");
        var down = await client.GetAsync("/openapi/services/payment.json");

        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("application/problem+json", unknown.Content.Headers.ContentType?.MediaType);
        var problem = await unknown.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("nosuch", problem.GetProperty("service").GetString());
        Assert.Contains("ordering", problem.GetProperty("detail").GetString());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, down.StatusCode);
        Assert.Equal("application/problem+json", down.Content.Headers.ContentType?.MediaType);
        Assert.Equal("payment", (await down.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("service").GetString());
    }

    [Fact]
    public async Task A_document_is_fetched_once_for_everyone_who_asks_within_its_lifetime_whatever_host_they_name()
    {
        using var client = _gateway.CreateClient();

        var answers = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => client.SendAsync(Ask("shop.example"))));
        var again = await client.SendAsync(Ask("shop.example"));
        // The Host header, the query string and credentials are the caller's to choose, and the document depends on none:
        // a new one each time must not make the service build its document again.
        var elsewhere = await Task.WhenAll(Enumerable.Range(0, 5).Select(i => client.SendAsync(Ask($"h{i}.example"))));
        var queried = await Task.WhenAll(Enumerable.Range(0, 5).Select(i => client.GetAsync($"/openapi/services/ordering.json?n={i}")));
        var withToken = new HttpRequestMessage(HttpMethod.Get, "/openapi/services/ordering.json") { Headers = { { "Authorization", "Bearer not-a-token" } } };
        var credentialed = await client.SendAsync(withToken);

        Assert.All(answers.Append(again).Concat(elsewhere).Concat(queried).Append(credentialed), answer => Assert.Equal(HttpStatusCode.OK, answer.StatusCode));
        Assert.Equal(1, Volatile.Read(ref _fetches));
        Assert.Equal("/", (await elsewhere[0].Content.ReadFromJsonAsync<JsonElement>()).GetProperty("servers")[0].GetProperty("url").GetString());
    }

    [Fact]
    public async Task A_caller_that_goes_away_during_the_shared_fetch_leaves_the_document_to_the_others()
    {
        using var client = _gateway.CreateClient();
        var held = _heldFetch = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var givingUp = new CancellationTokenSource();
        var first = client.GetAsync("/openapi/services/ordering.json", givingUp.Token);
        await _fetchArrived.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var waiting = client.GetAsync("/openapi/services/ordering.json");
        // The second caller waits for the first one's fetch (one fetch for both) rather than fetching again.
        await Task.Delay(TimeSpan.FromMilliseconds(300));
        Assert.Equal(1, Volatile.Read(ref _fetches));

        await givingUp.CancelAsync();
        held.SetResult();

        var answer = await waiting;
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        var document = await answer.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(document.GetProperty("paths").TryGetProperty("/api/orders", out _), document.ToString());
        Assert.Equal(1, Volatile.Read(ref _fetches));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);
    }

    [Fact]
    public async Task A_fetch_the_service_s_rate_limit_turns_away_is_a_503_not_a_500()
    {
        _gateway.Services.GetRequiredService<PolicyStore>().Apply(new MeshPolicy
        {
            Version = 2,
            Targets = { ["ordering"] = TargetPolicy.Default with { RateLimit = new ClientRateLimit { PermitsPerSecond = 1 } } },
        });
        using var client = _gateway.CreateClient();

        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(Ask("a.example"))).StatusCode);
        await _gateway.Services.GetRequiredService<IOutputCacheStore>().EvictByTagAsync(ApiReference.CacheTag, default);
        var limited = await client.SendAsync(Ask("a.example"));

        await ProblemAssert.IsProblem(limited, HttpStatusCode.ServiceUnavailable);
    }

    [Fact]
    public async Task A_service_whose_document_keeps_failing_opens_only_its_own_breaker()
    {
        using var client = _gateway.CreateClient();
        // Payment's instance refuses every connection: enough failed reads to open a breaker (10 calls, half failing).
        for (var i = 0; i < 6; i++)
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync("/openapi/services/payment.json")).StatusCode);
        }

        // Ordering, on the same host, is still read.
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/openapi/services/ordering.json")).StatusCode);
    }

    [Fact]
    public async Task A_service_named_in_another_case_uses_that_services_own_pipeline()
    {
        using var client = _gateway.CreateClient();
        foreach (var spelling in new[] { "payment", "PAYMENT", "PaYmEnT", "Ordering" })
        {
            await client.GetAsync($"/openapi/services/{spelling}.json");
        }

        using var admin = _gateway.CreateClient();
        admin.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer",
            _gateway.Tokens.Issue(Guid.NewGuid(), Mercato.ServiceDefaults.Auth.MercatoAuth.AdminRole));
        var policies = await admin.GetFromJsonAsync<JsonElement>("/api/gateway/admin/policies");
        var breakers = policies.GetProperty("breakers").EnumerateObject().Select(b => b.Name).ToList();
        Assert.Contains("payment", breakers);
        Assert.Contains("ordering", breakers);
        Assert.DoesNotContain(breakers, b => b.Equals("payment", StringComparison.OrdinalIgnoreCase) && b != "payment");
        Assert.DoesNotContain("Ordering", breakers);
    }

    [Fact]
    public async Task An_instance_that_does_not_answer_is_passed_over_for_one_that_does()
    {
        using var client = _gateway.CreateClient();
        const string Dead = "http://127.0.0.1:9";
        // Two instances of ordering, the one YARP lists first being dead: YARP keeps destinations in a hash map, so the
        // addresses are swapped between the two ids when the live one came first.
        var routes = _gateway.Services.GetRequiredService<InMemoryConfigProvider>();
        var proxy = _gateway.Services.GetRequiredService<Yarp.ReverseProxy.IProxyStateLookup>();
        async Task<string> ListedFirstAsync(string first, string second)
        {
            var destinations = new Dictionary<string, List<RouteDestination>>
            {
                ["ordering"] = [new("ordering-a", first, "1.0.0"), new("ordering-b", second, "1.0.0")],
            };
            routes.Update(RouteTable.Routes(destinations.Keys, new GatewayOptions()), RouteTable.Clusters(destinations.Keys, destinations));
            for (var attempt = 0; ; attempt++)
            {
                // Applied once both are listed and ordering-a has the address just given.
                if (proxy.TryGetCluster("ordering", out var cluster) && cluster.DestinationsState.AvailableDestinations is { Count: 2 } listed
                    && listed.Single(d => d.DestinationId == "ordering-a").Model.Config.Address == first)
                {
                    return listed[0].Model.Config.Address;
                }
                Assert.True(attempt < 100, "the new routes were not applied");
                await Task.Delay(50);
            }
        }
        if (await ListedFirstAsync(Dead, _address) != Dead)
        {
            Assert.Equal(Dead, await ListedFirstAsync(_address, Dead));
        }

        var response = await client.GetAsync("/openapi/services/ordering.json");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("stand-in", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("info").GetProperty("title").GetString());
    }

    [Fact]
    public async Task The_reference_page_offers_every_routed_service_and_ships_its_script()
    {
        using var client = _gateway.CreateClient();

        var page = await client.GetStringAsync("/scalar/");
        var script = await client.GetAsync("/scalar/scalar.js");

        // Scalar's page names each document by its address relative to the site (the browser test loads them for real).
        foreach (var document in new[] { "gateway", "ordering", "payment" })
        {
            Assert.Contains($"openapi/services/{document}.json", page);
        }
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
        Assert.Equal("text/javascript", script.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Switched_off_there_is_no_reference()
    {
        await using var gateway = new GatewayFactory(new Dictionary<string, string> { ["ordering"] = _address },
            new Dictionary<string, string> { ["Gateway:ApiReference"] = "false" });
        using var client = gateway.CreateClient();

        // Unknown paths need a token at the gateway, so the answer is a 401 rather than a 404: either way, nothing is served.
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/openapi/services/ordering.json")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/scalar/")).StatusCode);
    }
}
