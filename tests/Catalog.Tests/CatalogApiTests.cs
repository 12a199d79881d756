using System.Net;
using System.Net.Http.Json;
using Mercato.Catalog;
using Mercato.ServiceDefaults.Auth;
using Mercato.Testing;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection;

namespace Mercato.Catalog.Tests;

public sealed class CatalogApiTests(ServiceFactory<Program> catalog) : IClassFixture<ServiceFactory<Program>>
{
    [Fact]
    public async Task Lists_seeded_products_in_pages()
    {
        var client = catalog.CreateClient();
        var first = await client.GetFromJsonAsync<ProductPage>("/api/catalog/products?page=1&pageSize=5");
        var second = await client.GetFromJsonAsync<ProductPage>("/api/catalog/products?page=2&pageSize=5");

        Assert.NotNull(first);
        Assert.NotNull(second);
        Assert.True(first.Total >= 20, $"expected at least 20 seeded products, got {first.Total}");
        Assert.Equal(5, first.Items.Count);
        Assert.Equal(5, second.Items.Count);
        Assert.Empty(first.Items.Select(p => p.Id).Intersect(second.Items.Select(p => p.Id)));
        Assert.Equal((1, 5), (first.Page, first.PageSize));
    }

    [Fact]
    public async Task Anonymous_reads_answer_HEAD_as_they_answer_GET()
    {
        // The gateway lets anonymous callers send HEAD here; the service answered it 405.
        var client = catalog.CreateClient();
        var product = (await client.GetFromJsonAsync<ProductPage>("/api/catalog/products?pageSize=1"))!.Items[0].Id;
        var get = await client.GetAsync($"/api/catalog/products/{product}");

        var list = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/api/catalog/products"));
        var one = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/api/catalog/products/{product}"));
        var unknown = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/api/catalog/products/{Guid.NewGuid()}"));

        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        Assert.Equal(HttpStatusCode.OK, one.StatusCode);
        Assert.Equal(get.Headers.ETag, one.Headers.ETag);
        Assert.Equal(get.Headers.CacheControl, one.Headers.CacheControl);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        // The document describes GET only: a HEAD operation would be given the GET's bodies.
        var paths = (await client.GetFromJsonAsync<System.Text.Json.JsonElement>("/openapi/v1.json")).GetProperty("paths");
        Assert.DoesNotContain(paths.EnumerateObject(), path => path.Value.TryGetProperty("head", out _));
    }

    [Fact]
    public async Task With_demo_products_switched_off_the_catalog_starts_empty()
    {
        await using var production = new ConfiguredServiceFactory<Program>(("Catalog:SeedDemoProducts", "false"));

        var page = await production.CreateClient().GetFromJsonAsync<ProductPage>("/api/catalog/products");

        Assert.Equal(0, page!.Total);
    }

    [Fact]
    public async Task Full_text_search_matches_name_and_description_by_word_prefix()
    {
        var client = catalog.CreateClient();

        var byName = await client.GetFromJsonAsync<ProductPage>("/api/catalog/products?q=grinder");
        var byDescription = await client.GetFromJsonAsync<ProductPage>("/api/catalog/products?q=waterproof");
        var byPrefix = await client.GetFromJsonAsync<ProductPage>("/api/catalog/products?q=espres");
        var none = await client.GetFromJsonAsync<ProductPage>("/api/catalog/products?q=zzzqqq");
        var hostile = await client.GetAsync("/api/catalog/products?q=%22%29%20OR%20*%20NEAR");

        Assert.Contains(byName!.Items, p => p.Name == "Burr Coffee Grinder");
        Assert.Equal(byName.Total, byName.Items.Count);
        Assert.Contains(byDescription!.Items, p => p.Name == "Bluetooth Speaker");
        Assert.Contains(byDescription.Items, p => p.Name == "Camping Tent");
        Assert.All(byPrefix!.Items, p => Assert.Contains("espresso", (p.Name + " " + p.Description).ToLowerInvariant()));
        Assert.True(byPrefix.Total >= 2);
        Assert.Equal(0, none!.Total);
        Assert.Equal(HttpStatusCode.OK, hostile.StatusCode);
    }

    [Fact]
    public async Task Cached_answers_stay_within_the_size_limit_and_unknown_ids_are_not_kept()
    {
        await using var small = new ConfiguredServiceFactory<Program>(("Catalog:CacheSizeLimitBytes", "2048"));
        var client = small.CreateClient();
        var cache = (MemoryCache)small.Services.GetRequiredService<IMemoryCache>();

        for (var i = 0; i < 30; i++)
        {
            Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/catalog/products/{Guid.NewGuid()}")).StatusCode);
        }
        var afterMisses = cache.Count;
        var pages = new List<ProductPage>();
        for (var page = 1; page <= 20; page++)
        {
            pages.Add((await client.GetFromJsonAsync<ProductPage>($"/api/catalog/products?page={page}&pageSize=1"))!);
        }

        Assert.Equal(0, afterMisses);
        Assert.All(pages, (page, i) => Assert.Equal((i + 1, 1), (page.Page, page.Items.Count)));
        Assert.Equal(20, pages.Select(p => p.Items[0].Id).Distinct().Count());
        Assert.InRange(cache.Count, 1, 10);
    }

    [Fact]
    public async Task A_cache_size_limit_that_is_not_positive_stops_the_service_at_start()
    {
        await using var broken = new ConfiguredServiceFactory<Program>(("Catalog:CacheSizeLimitBytes", "0"));

        var error = Assert.ThrowsAny<Exception>(() => broken.CreateClient());

        Assert.Contains("Catalog:CacheSizeLimitBytes", error.ToString());
    }

    [Fact]
    public async Task Get_by_id_answers_200_404_and_400()
    {
        var client = catalog.CreateClient();

        var found = await client.GetFromJsonAsync<ProductResponse>($"/api/catalog/products/{CatalogSeed.ProductId(1)}");
        var missing = await client.GetAsync($"/api/catalog/products/{Guid.NewGuid()}");
        var malformed = await client.GetAsync("/api/catalog/products/not-a-guid");

        Assert.Equal("Espresso Machine", found!.Name);
        await ProblemAssert.IsProblem(missing, HttpStatusCode.NotFound);
        await ProblemAssert.NamesField(malformed, "id");
    }

    [Fact]
    public async Task Reads_let_shared_caches_keep_them_a_few_seconds_and_browsers_ask_again()
    {
        var client = catalog.CreateClient();

        var list = await client.GetAsync("/api/catalog/products?page=1&pageSize=2");
        var product = await client.GetAsync($"/api/catalog/products/{CatalogSeed.ProductId(1)}");
        var missing = await client.GetAsync($"/api/catalog/products/{Guid.NewGuid()}");
        var invalid = await client.GetAsync("/api/catalog/products?page=0");

        foreach (var read in new[] { list, product })
        {
            var directives = read.Headers.CacheControl!;
            Assert.True(directives.Public);
            Assert.Equal(TimeSpan.FromSeconds(10), directives.SharedMaxAge);
            Assert.Equal(TimeSpan.Zero, directives.MaxAge);
        }
        Assert.False(missing.Headers.CacheControl?.Public ?? false);
        Assert.False(invalid.Headers.CacheControl?.Public ?? false);
    }

    [Fact]
    public async Task Lists_the_products_asked_for_by_id_in_the_order_asked_each_once_without_unknown_ones()
    {
        var client = catalog.CreateClient();
        var seeded = (await client.GetFromJsonAsync<ProductPage>("/api/catalog/products?pageSize=3"))!.Items;
        var unknown = Guid.NewGuid();

        var commaSeparated = await client.GetFromJsonAsync<ProductPage>(
            $"/api/catalog/products?ids={seeded[2].Id},{unknown},{seeded[0].Id},{seeded[2].Id}");
        var repeated = await client.GetFromJsonAsync<ProductPage>($"/api/catalog/products?ids={seeded[1].Id}&ids={seeded[0].Id}");

        Assert.Equal([seeded[2], seeded[0]], commaSeparated!.Items);
        Assert.Equal(2, commaSeparated.Total);
        Assert.Equal([seeded[1].Id, seeded[0].Id], repeated!.Items.Select(p => p.Id));
    }

    [Theory]
    [InlineData("ids=abc", "ids")]
    [InlineData("ids=00000000-0000-0000-0000-000000000000", "ids")]
    [InlineData("ids=5b0f6a57-3f7e-4b4e-9d55-0d3f5a0e8a01,", "ids")]
    [InlineData("ids=5b0f6a57-3f7e-4b4e-9d55-0d3f5a0e8a01&q=mug", "ids")]
    [InlineData("ids=5b0f6a57-3f7e-4b4e-9d55-0d3f5a0e8a01&page=2", "ids")]
    public async Task Rejects_bad_ids(string query, string field)
    {
        var response = await catalog.CreateClient().GetAsync($"/api/catalog/products?{query}");
        await ProblemAssert.NamesField(response, field);
    }

    [Fact]
    public async Task Rejects_more_than_100_ids()
    {
        var ids = string.Join(',', Enumerable.Range(0, ProductEndpoints.MaxPageSize + 1).Select(_ => Guid.NewGuid()));
        var response = await catalog.CreateClient().GetAsync($"/api/catalog/products?ids={ids}");
        await ProblemAssert.NamesField(response, "ids");
    }

    [Theory]
    [InlineData("pageSize=100000", "pageSize")]
    [InlineData("pageSize=0", "pageSize")]
    [InlineData("page=0", "page")]
    [InlineData("page=abc", "page")]
    public async Task Rejects_bad_paging(string query, string field)
    {
        var response = await catalog.CreateClient().GetAsync($"/api/catalog/products?{query}");
        await ProblemAssert.NamesField(response, field);
    }

    [Fact]
    public async Task Admin_creates_and_updates_and_reads_see_the_change_at_once()
    {
        var admin = catalog.CreateAdminClient();
        var anonymous = catalog.CreateClient();
        var before = await anonymous.GetFromJsonAsync<ProductPage>("/api/catalog/products?q=teapot");

        var created = await admin.PostAsJsonAsync("/api/catalog/products", new { name = "Cast Iron Teapot", description = "Japanese tetsubin", price = 64.5m });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var product = await created.Content.ReadFromJsonAsync<ProductResponse>();
        Assert.Equal($"/api/catalog/products/{product!.Id}", created.Headers.Location?.OriginalString);

        var afterCreate = await anonymous.GetFromJsonAsync<ProductPage>("/api/catalog/products?q=teapot");
        var updated = await admin.PutAsJsonAsync($"/api/catalog/products/{product.Id}", new { name = "Cast Iron Kettle", description = "Japanese tetsubin", price = 70m });
        var afterUpdate = await anonymous.GetFromJsonAsync<ProductResponse>($"/api/catalog/products/{product.Id}");
        var searchOld = await anonymous.GetFromJsonAsync<ProductPage>("/api/catalog/products?q=teapot");

        Assert.Equal(0, before!.Total);
        Assert.Equal(1, afterCreate!.Total);
        Assert.Equal(HttpStatusCode.OK, updated.StatusCode);
        Assert.Equal(("Cast Iron Kettle", 70m), (afterUpdate!.Name, afterUpdate.Price));
        Assert.Equal(0, searchOld!.Total);
    }

    private static Task<HttpResponseMessage> CreateAsync(HttpClient admin, object product, string? idempotencyKey)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/catalog/products") { Content = JsonContent.Create(product) };
        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }
        return admin.SendAsync(request);
    }

    private async Task<int> CountAsync(string search) =>
        (await catalog.CreateClient().GetFromJsonAsync<ProductPage>($"/api/catalog/products?q={search}"))!.Total;

    [Fact]
    public async Task A_create_sent_again_with_its_idempotency_key_makes_one_product_and_answers_it_again()
    {
        var admin = catalog.CreateAdminClient();
        var key = Guid.NewGuid().ToString();

        var first = await CreateAsync(admin, new { name = "Brass Sundial", description = "Garden", price = 120m }, key);
        // A retry of the same request, written differently: the same product once trimmed, the price without its zero.
        var retry = await CreateAsync(admin, new { name = " Brass Sundial ", description = "Garden", price = 120.00m }, key);

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        var created = await first.Content.ReadFromJsonAsync<ProductResponse>();
        var replayed = await retry.Content.ReadFromJsonAsync<ProductResponse>();
        Assert.Equal(created, replayed);
        Assert.Equal(first.Headers.Location, retry.Headers.Location);
        Assert.Equal(first.Headers.ETag, retry.Headers.ETag);
        Assert.False(first.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal("true", Assert.Single(retry.Headers.GetValues("Idempotent-Replayed")));
        Assert.Equal(1, await CountAsync("sundial"));
    }

    [Fact]
    public async Task An_idempotency_key_sent_again_with_a_different_product_is_422_naming_it_and_writes_nothing()
    {
        var admin = catalog.CreateAdminClient();
        var key = Guid.NewGuid().ToString();
        await CreateAsync(admin, new { name = "Copper Weathervane", price = 80m }, key);

        var otherPrice = await CreateAsync(admin, new { name = "Copper Weathervane", price = 81m }, key);
        var otherName = await CreateAsync(admin, new { name = "Copper Rooster", price = 80m }, key);

        await ProblemAssert.NamesField(otherPrice, "Idempotency-Key", HttpStatusCode.UnprocessableEntity);
        await ProblemAssert.NamesField(otherName, "Idempotency-Key", HttpStatusCode.UnprocessableEntity);
        Assert.Equal(1, await CountAsync("copper"));
    }

    [Fact]
    public async Task A_key_sent_again_after_its_product_changed_answers_the_product_as_it_is_now()
    {
        var admin = catalog.CreateAdminClient();
        var key = Guid.NewGuid().ToString();
        var created = await (await CreateAsync(admin, new { name = "Slate Chessboard", price = 90m }, key)).Content.ReadFromJsonAsync<ProductResponse>();
        await admin.PutAsJsonAsync($"/api/catalog/products/{created!.Id}", new { name = "Slate Chessboard", price = 95m });

        var retry = await CreateAsync(admin, new { name = "Slate Chessboard", price = 90m }, key);
        var asUpdated = await CreateAsync(admin, new { name = "Slate Chessboard", price = 95m }, key);

        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        var replayed = await retry.Content.ReadFromJsonAsync<ProductResponse>();
        Assert.Equal((created.Id, 95m, 2), (replayed!.Id, replayed.Price, replayed.Version));
        Assert.Equal("\"2\"", retry.Headers.ETag?.Tag);
        // The key stands for the create it first made, not for the product's later state.
        await ProblemAssert.NamesField(asUpdated, "Idempotency-Key", HttpStatusCode.UnprocessableEntity);
        Assert.Equal(1, await CountAsync("chessboard"));
    }

    [Fact]
    public async Task Creates_racing_with_one_idempotency_key_make_one_product()
    {
        var admin = catalog.CreateAdminClient();
        var key = Guid.NewGuid().ToString();

        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ =>
            CreateAsync(admin, new { name = "Pewter Inkwell", price = 33m }, key)));

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.Created, a.StatusCode));
        var ids = await Task.WhenAll(answers.Select(async a => (await a.Content.ReadFromJsonAsync<ProductResponse>())!.Id));
        Assert.Single(ids.Distinct());
        Assert.Equal(1, await CountAsync("inkwell"));
    }

    [Fact]
    public async Task Idempotency_keys_are_each_admins_own()
    {
        var key = Guid.NewGuid().ToString();
        var otherAdmin = catalog.CreateClientWithToken(catalog.Tokens.Issue(Guid.NewGuid(), MercatoAuth.AdminRole));

        var mine = await CreateAsync(catalog.CreateAdminClient(), new { name = "Walnut Globe", price = 250m }, key);
        var theirs = await CreateAsync(otherAdmin, new { name = "Walnut Globe", price = 250m }, key);

        Assert.Equal(HttpStatusCode.Created, mine.StatusCode);
        Assert.Equal(HttpStatusCode.Created, theirs.StatusCode);
        Assert.False(theirs.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(2, await CountAsync("globe"));
    }

    [Theory]
    [InlineData("   ")]
    [InlineData("one,two")]
    [InlineData("k\u007f")]
    public async Task A_create_with_an_unusable_idempotency_key_is_400_naming_it_and_writes_nothing(string key)
    {
        var admin = catalog.CreateAdminClient();
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/catalog/products") { Content = JsonContent.Create(new { name = "Tin Whistle", price = 9m }) };
        request.Headers.TryAddWithoutValidation("Idempotency-Key", key);

        var response = await admin.SendAsync(request);
        var tooLong = await CreateAsync(admin, new { name = "Tin Whistle", price = 9m }, new string('k', 101));

        await ProblemAssert.NamesField(response, "Idempotency-Key");
        await ProblemAssert.NamesField(tooLong, "Idempotency-Key");
        Assert.Equal(0, await CountAsync("whistle"));
    }

    [Fact]
    public async Task An_update_with_the_etag_of_an_older_read_is_412_and_changes_nothing()
    {
        var admin = catalog.CreateAdminClient();
        var created = await admin.PostAsJsonAsync("/api/catalog/products", new { name = "Milk Frother", price = 20m });
        var id = (await created.Content.ReadFromJsonAsync<ProductResponse>())!.Id;
        var read = await catalog.CreateClient().GetAsync($"/api/catalog/products/{id}");
        var etag = read.Headers.ETag!.ToString();
        Assert.Equal(created.Headers.ETag!.ToString(), etag);
        Assert.Equal(ProductEndpoints.ETagOf((await read.Content.ReadFromJsonAsync<ProductResponse>())!.Version), etag);

        // Two admins read version 1; the first updates over it, the second's update over the same read is refused.
        var first = await PutAsync(admin, id, new { name = "Milk Frother", price = 25m }, etag);
        var second = await PutAsync(admin, id, new { name = "Milk Frother Deluxe", price = 20m }, etag);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.NotEqual(etag, first.Headers.ETag!.ToString());
        var problem = await ProblemAssert.IsProblem(second, HttpStatusCode.PreconditionFailed);
        Assert.Equal("If-Match", problem.GetProperty("field").GetString());
        Assert.Equal(first.Headers.ETag!.ToString(), second.Headers.ETag!.ToString());
        var now = await catalog.CreateClient().GetFromJsonAsync<ProductResponse>($"/api/catalog/products/{id}");
        Assert.Equal(("Milk Frother", 25m), (now!.Name, now.Price));

        // Over the current version, or any (*), or without If-Match at all, an update goes through.
        Assert.Equal(HttpStatusCode.OK, (await PutAsync(admin, id, new { name = "Milk Frother", price = 26m }, first.Headers.ETag!.ToString())).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await PutAsync(admin, id, new { name = "Milk Frother", price = 27m }, "*")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await PutAsync(admin, id, new { name = "Milk Frother", price = 28m }, null)).StatusCode);
    }

    [Theory]
    [InlineData("1")]
    [InlineData("*, \"1\"")]
    [InlineData("\"1")]
    public async Task An_if_match_that_is_not_a_list_of_entity_tags_is_400_naming_it(string ifMatch)
    {
        var (admin, id) = await NewTamperAsync();

        await ProblemAssert.NamesField(await PutAsync(admin, id, new { name = "Tamper", price = 16m }, ifMatch), "If-Match");
        Assert.Equal(15m, (await catalog.CreateClient().GetFromJsonAsync<ProductResponse>($"/api/catalog/products/{id}"))!.Price);
    }

    [Theory]
    [InlineData("W/\"1\"")]
    [InlineData("\"one\"")]
    [InlineData("\"99999999999\"")]
    public async Task A_weak_or_unknown_entity_tag_never_matches(string ifMatch)
    {
        var (admin, id) = await NewTamperAsync();

        await ProblemAssert.IsProblem(await PutAsync(admin, id, new { name = "Tamper", price = 16m }, ifMatch), HttpStatusCode.PreconditionFailed);
        await ProblemAssert.IsProblem(await PutAsync(admin, Guid.NewGuid(), new { name = "Tamper", price = 16m }, "*"), HttpStatusCode.PreconditionFailed);
        var body = await catalog.CreateClient().GetStringAsync($"/api/catalog/products/{id}");
        Assert.Contains("\"price\":15", body, StringComparison.Ordinal);
        Assert.DoesNotContain("etag", body, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>A new product at 15.00, and an admin client.</summary>
    private async Task<(HttpClient Admin, Guid Id)> NewTamperAsync()
    {
        var admin = catalog.CreateAdminClient();
        var created = await admin.PostAsJsonAsync("/api/catalog/products", new { name = "Tamper", price = 15m });
        return (admin, (await created.Content.ReadFromJsonAsync<ProductResponse>())!.Id);
    }

    private static async Task<HttpResponseMessage> PutAsync(HttpClient client, Guid id, object body, string? ifMatch)
    {
        var request = new HttpRequestMessage(HttpMethod.Put, $"/api/catalog/products/{id}") { Content = JsonContent.Create(body) };
        if (ifMatch is not null)
        {
            request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
        }
        return await client.SendAsync(request);
    }

    [Fact]
    public async Task Writes_need_an_admin_token()
    {
        var body = new { name = "Forbidden Fruit", description = "", price = 1m };

        var anonymous = await catalog.CreateClient().PostAsJsonAsync("/api/catalog/products", body);
        var customer = await catalog.CreateCustomerClient().PostAsJsonAsync("/api/catalog/products", body);
        var forged = await catalog.CreateClientWithToken(catalog.Tokens.IssueFrom("someone-else", Guid.NewGuid(), "admin"))
            .PostAsJsonAsync("/api/catalog/products", body);
        var list = await catalog.CreateClient().GetFromJsonAsync<ProductPage>("/api/catalog/products?q=forbidden");

        await ProblemAssert.IsProblem(anonymous, HttpStatusCode.Unauthorized);
        await ProblemAssert.IsProblem(customer, HttpStatusCode.Forbidden);
        await ProblemAssert.IsProblem(forged, HttpStatusCode.Unauthorized);
        Assert.Equal(0, list!.Total);
    }

    [Theory]
    [InlineData("""{"name":"","price":1}""", "name")]
    [InlineData("""{"name":"\u2060\u200B","price":1}""", "name")]
    [InlineData("""{"name":"X","price":-1}""", "price")]
    [InlineData("""{"name":"X","price":1.234}""", "price")]
    [InlineData("""{"name":"X"}""", "price")]
    [InlineData("""{"name":"X","price":"cheap"}""", "price")]
    [InlineData("""{"name":"X","price":1""", "body")]
    [InlineData("""{"name":"a\u0000b","price":1}""", "name")]
    [InlineData("""{"name":"a\u2028b","price":1}""", "name")]
    [InlineData("""{"name":"X","description":"evil\u202Etxt.exe","price":1}""", "description")]
    public async Task Invalid_products_are_rejected_and_nothing_is_written(string json, string field)
    {
        var admin = catalog.CreateAdminClient();
        var before = (await admin.GetFromJsonAsync<ProductPage>("/api/catalog/products?pageSize=1"))!.Total;

        var response = await admin.PostAsync("/api/catalog/products", new StringContent(json, System.Text.Encoding.UTF8, "application/json"));

        await ProblemAssert.NamesField(response, field);
        var after = (await admin.GetFromJsonAsync<ProductPage>("/api/catalog/products?pageSize=1"))!.Total;
        Assert.Equal(before, after);
    }

    [Fact]
    public async Task Update_of_unknown_product_is_404()
    {
        var response = await catalog.CreateAdminClient().PutAsJsonAsync($"/api/catalog/products/{Guid.NewGuid()}", new { name = "X", price = 1m });
        await ProblemAssert.IsProblem(response, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Request_durations_are_counted_in_buckets_of_seconds()
    {
        var client = catalog.CreateClient();
        (await client.GetAsync("/api/catalog/products?pageSize=1")).EnsureSuccessStatusCode();

        var buckets = (await client.GetStringAsync("/metrics")).Split('\n')
            .Where(line => line.StartsWith("request_duration_seconds_bucket{", StringComparison.Ordinal) && line.Contains("method=\"GET\"", StringComparison.Ordinal))
            .Select(line => line[(line.IndexOf("le=\"", StringComparison.Ordinal) + 4)..].Split('"')[0])
            .ToList();

        // Sub-second boundaries: a 50 ms answer and a 2 s one fall into different buckets.
        Assert.Contains("0.05", buckets);
        Assert.Contains("0.1", buckets);
        Assert.Contains("2.5", buckets);
    }

    [Fact]
    public async Task The_openapi_document_lists_every_answer_and_which_operations_need_a_token()
    {
        var client = catalog.CreateClient();

        var list = await OpenApiAssert.OperationAsync(client, "GET", "/api/catalog/products");
        var create = await OpenApiAssert.OperationAsync(client, "POST", "/api/catalog/products");
        var update = await OpenApiAssert.OperationAsync(client, "PUT", "/api/catalog/products/{id}");

        OpenApiAssert.Answers(list, 200, 400, 503);
        OpenApiAssert.DeclaresHeader(list, 503, "Retry-After");
        Assert.False(OpenApiAssert.RequiresBearer(list));
        OpenApiAssert.Answers(create, 201, 400, 401, 403, 413, 415, 422, 503);
        OpenApiAssert.SuccessesDeclareHeader(create, "Idempotent-Replayed");
        Assert.True(OpenApiAssert.RequiresBearer(create));
        OpenApiAssert.Answers(update, 200, 400, 401, 403, 404, 409, 412, 413, 415, 503);
        await OpenApiAssert.EveryOperationDocumentsItsAnswersAsync(catalog.CreateClient());
    }

    [Fact]
    public async Task Request_metrics_count_a_method_of_the_clients_invention_as_OTHER_not_as_a_series_of_its_own()
    {
        var client = catalog.CreateClient();
        var invented = $"BREW{Guid.NewGuid():N}".ToUpperInvariant();

        var answer = await client.SendAsync(new HttpRequestMessage(new HttpMethod(invented), "/api/catalog/products"));
        var metrics = await client.GetStringAsync("/metrics");

        Assert.Equal(HttpStatusCode.MethodNotAllowed, answer.StatusCode);
        Assert.DoesNotContain(invented, metrics, StringComparison.Ordinal);
        Assert.Contains(metrics.Split('\n'), line => line.StartsWith("requests_total{", StringComparison.Ordinal)
            && line.Contains("method=\"_OTHER\"", StringComparison.Ordinal) && line.Contains("status=\"405\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Readiness_checks_the_database_and_openapi_is_published()
    {
        var client = catalog.CreateClient();
        var ready = await client.GetStringAsync("/health/ready");
        var openApi = await client.GetStringAsync("/openapi/v1.json");

        Assert.Contains("\"database\"", ready, StringComparison.Ordinal);
        Assert.Contains("Healthy", ready, StringComparison.Ordinal);
        Assert.Contains("/api/catalog/products", openApi, StringComparison.Ordinal);
    }
}

/// <summary>A read that queried the database before a write committed, and finished after it, must not be cached.</summary>
public sealed class CacheWriteRaceTests : IAsyncLifetime
{
    private readonly GatedCatalog _catalog = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _catalog.DisposeAsync();

    [Fact]
    public async Task A_read_overlapping_a_price_change_does_not_leave_the_old_price_cached()
    {
        var admin = _catalog.CreateAdminClient();
        var created = await admin.PostAsJsonAsync("/api/catalog/products", new { name = "Moka Pot", price = 10m });
        var id = (await created.Content.ReadFromJsonAsync<ProductResponse>())!.Id;

        // The read has its rows (SQLite's snapshot from before the write) and is held until the write has finished.
        var held = _catalog.Gate.HoldNextRead();
        var overlapping = _catalog.CreateClient().GetFromJsonAsync<ProductResponse>($"/api/catalog/products/{id}");
        await held.Reached;
        var changed = await admin.PutAsJsonAsync($"/api/catalog/products/{id}", new { name = "Moka Pot", price = 12m });
        Assert.Equal(HttpStatusCode.OK, changed.StatusCode);
        held.Release();
        // It began before the change: either price is a fair answer to it.
        Assert.Contains((await overlapping)!.Price, new[] { 10m, 12m });

        var after = await _catalog.CreateClient().GetFromJsonAsync<ProductResponse>($"/api/catalog/products/{id}");
        var priced = await _catalog.CreateClient().GetFromJsonAsync<ProductPage>($"/api/catalog/products?ids={id}");
        Assert.Equal(12m, after!.Price);
        Assert.Equal(12m, Assert.Single(priced!.Items).Price);
    }

    [Fact]
    public async Task A_read_whose_caller_gave_up_still_answers_the_callers_waiting_for_it()
    {
        var admin = _catalog.CreateAdminClient();
        var created = await admin.PostAsJsonAsync("/api/catalog/products", new { name = "Pour-Over Stand", price = 24m });
        var id = (await created.Content.ReadFromJsonAsync<ProductResponse>())!.Id;
        var url = $"/api/catalog/products/{id}";

        // The first read starts the load and is held in it; the second joins that load (HybridCache shares it).
        var held = _catalog.Gate.HoldNextRead();
        using var givingUp = new CancellationTokenSource();
        var first = _catalog.CreateClient().GetAsync(url, givingUp.Token);
        await held.Reached;
        var joined = _catalog.Cache.NextCallFor($"product:{id}");
        var waiting = _catalog.CreateClient().GetAsync(url);
        await joined;

        // The first caller hangs up. Its request ends, and with it whatever the request owned, before the load goes on.
        await givingUp.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);
        await Task.WhenAny(held.ConnectionClosed, Task.Delay(TimeSpan.FromSeconds(5)));
        held.Release();

        var answer = await waiting;
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        Assert.Equal(24m, (await answer.Content.ReadFromJsonAsync<ProductResponse>())!.Price);
    }

    private sealed class GatedCatalog : ServiceFactory<Program>
    {
        public ReadGate Gate { get; } = new();

        public CallSignallingCache Cache { get; private set; } = null!;

        protected override void ConfigureTestServices(IServiceCollection services)
        {
            services.ConfigureDbContext<Data.CatalogDb>(options => options.AddInterceptors(Gate));
            var registered = services.Single(d => d.ServiceType == typeof(HybridCache));
            services.Remove(registered);
            services.AddSingleton<HybridCache>(provider => Cache = new CallSignallingCache(
                (HybridCache)ActivatorUtilities.CreateInstance(provider, registered.ImplementationType!)));
        }
    }

    /// <summary>HybridCache as registered, telling when a caller has entered it (and so joined a load under way) for a key.</summary>
    private sealed class CallSignallingCache(HybridCache inner) : HybridCache
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, TaskCompletionSource> _watched = new();

        public Task NextCallFor(string key) =>
            _watched.GetOrAdd(key, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

        public override ValueTask<T> GetOrCreateAsync<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
            HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default)
        {
            var call = inner.GetOrCreateAsync(key, state, factory, options, tags, cancellationToken);
            if (_watched.TryRemove(key, out var watcher))
            {
                watcher.SetResult();
            }
            return call;
        }

        public override ValueTask SetAsync<T>(string key, T value, HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null,
            CancellationToken cancellationToken = default) => inner.SetAsync(key, value, options, tags, cancellationToken);

        public override ValueTask RemoveAsync(string key, CancellationToken cancellationToken = default) => inner.RemoveAsync(key, cancellationToken);

        public override ValueTask RemoveByTagAsync(string tag, CancellationToken cancellationToken = default) => inner.RemoveByTagAsync(tag, cancellationToken);
    }

    /// <summary>Holds the next query of the products table once it has executed, until released.</summary>
    private sealed class ReadGate : Microsoft.EntityFrameworkCore.Diagnostics.DbCommandInterceptor
    {
        private Hold? _next;

        public Hold HoldNextRead() => _next = new Hold();

        public override async ValueTask<System.Data.Common.DbDataReader> ReaderExecutedAsync(System.Data.Common.DbCommand command,
            Microsoft.EntityFrameworkCore.Diagnostics.CommandExecutedEventData eventData, System.Data.Common.DbDataReader result,
            CancellationToken cancellationToken = default)
        {
            if (command.CommandText.Contains("FROM \"Products\"", StringComparison.Ordinal) && Interlocked.Exchange(ref _next, null) is { } hold)
            {
                await hold.WaitAsync(command.Connection!);
            }
            return result;
        }
    }

    private sealed class Hold
    {
        private readonly TaskCompletionSource _reached = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _connectionClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Reached => _reached.Task;

        /// <summary>Completes when the held query's connection is closed under it.</summary>
        public Task ConnectionClosed => _connectionClosed.Task;

        public void Release() => _released.SetResult();

        public Task WaitAsync(System.Data.Common.DbConnection connection)
        {
            connection.StateChange += (_, change) =>
            {
                if (change.CurrentState == System.Data.ConnectionState.Closed)
                {
                    _connectionClosed.TrySetResult();
                }
            };
            _reached.SetResult();
            return _released.Task;
        }
    }
}
