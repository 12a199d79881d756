using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Mercato.Testing;

namespace Mercato.EndToEnd.Tests;

/// <summary>The foundation through the gateway: health, auth, user context, catalog, inventory, discovery.</summary>
public abstract class FoundationSuite(MercatoSystem system)
{
    private static readonly Guid EspressoMachine = new("00000000-0000-4000-8000-000000000001");

    [SkippableFact]
    public async Task Gateway_is_ready_and_healthy()
    {
        Assert.Equal(HttpStatusCode.OK, (await system.Gateway.GetAsync("/health/ready")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await system.Gateway.GetAsync("/health/live")).StatusCode);
    }

    [SkippableFact]
    public async Task Register_login_and_read_me_through_the_gateway()
    {
        var (client, userId, email) = await system.NewCustomerAsync();

        var me = await client.GetFromJsonAsync<JsonElement>("/api/identity/users/me");
        var duplicate = await system.Gateway.PostAsJsonAsync("/api/identity/users", new { email, password = "Shopper123", name = "Again" });
        var wrongPassword = await system.Gateway.PostAsJsonAsync("/api/identity/token", new { email, password = "Wrong12345" });

        Assert.Equal(userId, me.GetProperty("id").GetGuid());
        Assert.Equal(email, me.GetProperty("email").GetString());
        Assert.Equal(["customer"], me.GetProperty("roles").EnumerateArray().Select(r => r.GetString()));
        await ProblemAssert.IsProblem(duplicate, HttpStatusCode.Conflict);
        await ProblemAssert.IsProblem(wrongPassword, HttpStatusCode.Unauthorized);
    }

    [SkippableFact]
    public async Task Anonymous_visitors_browse_and_search_the_catalog()
    {
        var page1 = await system.Gateway.GetFromJsonAsync<JsonElement>("/api/catalog/products?page=1&pageSize=10");
        var page3 = await system.Gateway.GetFromJsonAsync<JsonElement>("/api/catalog/products?page=3&pageSize=10");
        var search = await system.Gateway.GetFromJsonAsync<JsonElement>("/api/catalog/products?q=coffee");
        var product = await system.Gateway.GetFromJsonAsync<JsonElement>($"/api/catalog/products/{EspressoMachine}");
        var unknown = await system.Gateway.GetAsync($"/api/catalog/products/{Guid.NewGuid()}");
        var malformed = await system.Gateway.GetAsync("/api/catalog/products/123");
        var huge = await system.Gateway.GetAsync("/api/catalog/products?pageSize=100000");

        Assert.True(page1.GetProperty("total").GetInt32() >= 20);
        Assert.Equal(10, page1.GetProperty("items").GetArrayLength());
        Assert.True(page3.GetProperty("items").GetArrayLength() >= 1);
        Assert.Contains(search.GetProperty("items").EnumerateArray(), p => p.GetProperty("name").GetString() == "Burr Coffee Grinder");
        Assert.Equal("Espresso Machine", product.GetProperty("name").GetString());
        await ProblemAssert.IsProblem(unknown, HttpStatusCode.NotFound);
        await ProblemAssert.NamesField(malformed, "id");
        await ProblemAssert.NamesField(huge, "pageSize");
    }

    [SkippableFact]
    public async Task Repeated_anonymous_catalog_reads_are_answered_by_the_gateway_cache_until_a_write_through_it()
    {
        var admin = await system.AdminAsync();
        var created = await admin.PostAsJsonAsync("/api/catalog/products", new { name = $"Cache probe {Guid.NewGuid():N}", description = "", price = 12.50m });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var path = $"/api/catalog/products/{(await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid()}";

        var first = await system.Gateway.GetAsync(path);
        var repeated = await system.Gateway.GetAsync(path);
        var fresh = await system.Gateway.SendAsync(MercatoSystem.FreshRead(path));
        var signedIn = await admin.GetAsync(path);
        var updated = await admin.PutAsJsonAsync(path, new { name = "Cache probe, renamed", description = "", price = 13.75m });
        var afterWrite = await system.Gateway.GetAsync(path);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Null(first.Headers.Age);
        Assert.NotNull(repeated.Headers.Age);
        Assert.Equal(first.Headers.GetValues("X-Served-By"), repeated.Headers.GetValues("X-Served-By"));
        Assert.Equal(await first.Content.ReadAsStringAsync(), await repeated.Content.ReadAsStringAsync());
        Assert.Null(fresh.Headers.Age);
        Assert.Null(signedIn.Headers.Age);
        Assert.Equal(HttpStatusCode.OK, updated.StatusCode);
        // Evicted by the write: the answer comes from a catalog instance again, not from the gateway's copy.
        Assert.Equal(HttpStatusCode.OK, afterWrite.StatusCode);
        Assert.Null(afterWrite.Headers.Age);
    }

    [SkippableFact]
    public async Task Admin_changes_stock_and_customers_may_not()
    {
        var admin = await system.AdminAsync();
        var (customer, _, _) = await system.NewCustomerAsync();

        var set = await admin.PutAsJsonAsync($"/api/inventory/items/{EspressoMachine}", new { onHand = 25 });
        var read = await customer.GetFromJsonAsync<JsonElement>($"/api/inventory/items/{EspressoMachine}");
        var forbidden = await customer.PutAsJsonAsync($"/api/inventory/items/{EspressoMachine}", new { onHand = 1000 });
        var negative = await admin.PutAsJsonAsync($"/api/inventory/items/{EspressoMachine}", new { onHand = -5 });
        var unknownProduct = await admin.PutAsJsonAsync($"/api/inventory/items/{Guid.NewGuid()}", new { onHand = 5 });
        var after = await customer.GetFromJsonAsync<JsonElement>($"/api/inventory/items/{EspressoMachine}");

        Assert.Equal(HttpStatusCode.OK, set.StatusCode);
        Assert.Equal((25, 0, 25), (read.GetProperty("onHand").GetInt32(), read.GetProperty("reserved").GetInt32(), read.GetProperty("available").GetInt32()));
        await ProblemAssert.IsProblem(forbidden, HttpStatusCode.Forbidden);
        await ProblemAssert.NamesField(negative, "onHand");
        await ProblemAssert.IsProblem(unknownProduct, HttpStatusCode.NotFound);
        Assert.Equal(25, after.GetProperty("onHand").GetInt32());
    }

    [SkippableFact]
    public async Task Protected_routes_need_a_valid_token()
    {
        var noToken = await system.Gateway.GetAsync("/api/identity/users/me");
        var garbage = new HttpRequestMessage(HttpMethod.Get, "/api/identity/users/me");
        garbage.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "garbage.token.value");
        var stockWithoutToken = await system.Gateway.PutAsJsonAsync($"/api/inventory/items/{EspressoMachine}", new { onHand = 1 });
        var registryWithoutToken = await system.Gateway.GetAsync("/api/registry/services");

        await ProblemAssert.IsProblem(noToken, HttpStatusCode.Unauthorized);
        await ProblemAssert.IsProblem(await system.Gateway.SendAsync(garbage), HttpStatusCode.Unauthorized);
        await ProblemAssert.IsProblem(stockWithoutToken, HttpStatusCode.Unauthorized);
        await ProblemAssert.IsProblem(registryWithoutToken, HttpStatusCode.Unauthorized);
    }

    [SkippableFact]
    public async Task Forged_user_headers_from_the_client_are_replaced_by_the_gateway()
    {
        var (customer, userId, _) = await system.NewCustomerAsync();
        var admin = await system.AdminAsync();
        var adminMe = await admin.GetFromJsonAsync<JsonElement>("/api/identity/users/me");

        // Services refuse user headers that disagree with the token; these pass only because the gateway replaced them.
        var forgedMe = new HttpRequestMessage(HttpMethod.Get, "/api/identity/users/me");
        forgedMe.Headers.Add("X-User-Id", adminMe.GetProperty("id").GetString());
        forgedMe.Headers.Add("X-User-Roles", "admin");
        var me = await customer.SendAsync(forgedMe);

        var forgedAdmin = new HttpRequestMessage(HttpMethod.Put, $"/api/inventory/items/{EspressoMachine}") { Content = JsonContent.Create(new { onHand = 999 }) };
        forgedAdmin.Headers.Add("X-User-Roles", "admin");
        var escalation = await customer.SendAsync(forgedAdmin);

        var anonymousForged = MercatoSystem.FreshRead("/api/catalog/products?pageSize=1");
        anonymousForged.Headers.Add("X-User-Id", Guid.NewGuid().ToString());
        var anonymous = await system.Gateway.SendAsync(anonymousForged);

        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
        Assert.Equal(userId, (await me.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid());
        await ProblemAssert.IsProblem(escalation, HttpStatusCode.Forbidden);
        Assert.Equal(HttpStatusCode.OK, anonymous.StatusCode);
    }

    [SkippableFact]
    public async Task The_registry_lists_every_service_with_health_and_heartbeat()
    {
        var admin = await system.AdminAsync();
        var (customer, _, _) = await system.NewCustomerAsync();

        var services = await admin.GetFromJsonAsync<JsonElement>("/api/registry/services");
        var forbidden = await customer.GetAsync("/api/registry/services");

        var byName = services.EnumerateArray().ToDictionary(s => s.GetProperty("name").GetString()!);
        Assert.Superset(MercatoSystem.ServiceNames.ToHashSet(), byName.Keys.ToHashSet());
        foreach (var service in byName.Values)
        {
            var instance = service.GetProperty("instances")[0];
            Assert.Equal("healthy", instance.GetProperty("status").GetString());
            Assert.True(DateTimeOffset.UtcNow - instance.GetProperty("lastHeartbeat").GetDateTimeOffset() < TimeSpan.FromSeconds(15));
            Assert.StartsWith("http://", instance.GetProperty("address").GetString(), StringComparison.Ordinal);
        }
        await ProblemAssert.IsProblem(forbidden, HttpStatusCode.Forbidden);
    }

    [SkippableFact]
    public async Task Every_service_api_is_described_at_the_gateway_as_its_clients_reach_it()
    {
        var described = new Dictionary<string, List<string>>();
        foreach (var service in MercatoSystem.ServiceNames)
        {
            var response = await system.Gateway.GetAsync($"/openapi/services/{service}.json");
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{service}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            var document = await response.Content.ReadFromJsonAsync<JsonElement>();
            // Relative: requests go to the gateway that served the document.
            Assert.Equal(["/"],
                document.GetProperty("servers").EnumerateArray().Select(s => s.GetProperty("url").GetString()));
            // Trimming kept every schema the remaining paths use.
            OpenApiAssert.ReferencesResolve(document);
            described[service] = [.. document.GetProperty("paths").EnumerateObject().Select(p => p.Name)];
            Assert.NotEmpty(described[service]);
            Assert.All(described[service], path => Assert.StartsWith("/api/", path));
        }

        // The registry's registration API is for instances, not the gateway's clients; its public part is described.
        Assert.Contains("/api/registry/services", described["registry"]);
        Assert.DoesNotContain(described["registry"], path => path.StartsWith("/registry/", StringComparison.Ordinal));
        Assert.Contains("/api/orders", described["ordering"]);
        Assert.Contains("/api/home", described["gateway"]);
        // What a document describes answers at the gateway as described.
        Assert.Contains("/api/catalog/products", described["catalog"]);
        Assert.Equal(HttpStatusCode.OK, (await system.Gateway.SendAsync(MercatoSystem.FreshRead("/api/catalog/products"))).StatusCode);
        var unknown = await ProblemAssert.IsProblem(await system.Gateway.GetAsync("/openapi/services/nosuch.json"), HttpStatusCode.NotFound);
        Assert.Equal("nosuch", unknown.GetProperty("service").GetString());
    }

    [SkippableFact]
    public async Task Unknown_service_paths_do_not_leak_past_the_gateway()
    {
        var response = await system.Gateway.GetAsync("/api/nosuchservice/anything");
        Assert.True(response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.Unauthorized, $"got {(int)response.StatusCode}");
    }
}

[Collection(SystemCollection.Name)]
public sealed class FoundationTests(EmbeddedSystem system) : FoundationSuite(system);

[Collection(ScaleOutCollection.Name)]
public sealed class ScaleOutFoundationTests(ScaleOutSystem system) : FoundationSuite(system);
