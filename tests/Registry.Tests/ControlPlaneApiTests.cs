using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mercato.ServiceDefaults.Discovery;
using Mercato.ServiceDefaults.Resilience;
using Mercato.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Mercato.Registry.Tests;

/// <summary>The control plane's policy document: validated on PUT, versioned, pulled with a cheap 304 when unchanged.</summary>
public sealed class ControlPlaneApiTests(RegistryFactory registry) : IClassFixture<RegistryFactory>
{
    [Fact]
    public async Task Every_operation_in_the_openapi_document_lists_its_answers() =>
        await OpenApiAssert.EveryOperationDocumentsItsAnswersAsync(registry.CreateClient());

    private static MeshPolicy WithCatalogRetries(int retries) => new()
    {
        Targets = { ["catalog"] = new TargetPolicy { Retry = new RetryPolicy { MaxRetries = retries } } },
    };

    [Fact]
    public async Task A_valid_document_gets_the_next_version_and_instances_pull_it()
    {
        var admin = registry.CreateAdminClient();
        var before = (await admin.GetFromJsonAsync<MeshPolicy>("/api/registry/policies", MeshPolicy.Json))!;

        var put = await admin.PutAsJsonAsync("/api/registry/policies", WithCatalogRetries(4), MeshPolicy.Json);
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        var accepted = (await put.Content.ReadFromJsonAsync<MeshPolicy>(MeshPolicy.Json))!;
        Assert.True(accepted.Version > before.Version);
        Assert.Equal(4, accepted.For("catalog").Retry.MaxRetries);

        // The internal pull: the full document with an ETag, then 304 while nothing changed.
        var internalApi = registry.CreateClient();
        var pulled = await internalApi.GetAsync("/registry/v1/policies");
        Assert.StartsWith($"\"{accepted.Version}-", pulled.Headers.ETag?.Tag);
        Assert.Equal(4, (await pulled.Content.ReadFromJsonAsync<MeshPolicy>(MeshPolicy.Json))!.For("catalog").Retry.MaxRetries);
        using var again = new HttpRequestMessage(HttpMethod.Get, "/registry/v1/policies");
        again.Headers.IfNoneMatch.Add(pulled.Headers.ETag!);
        Assert.Equal(HttpStatusCode.NotModified, (await internalApi.SendAsync(again)).StatusCode);
    }

    [Theory]
    [InlineData("""{"targets":{"catalog":{"retry":{"maxRetries":50}}}}""", "targets.catalog.retry.maxRetries")]
    [InlineData("""{"targets":{"catalog":{"circuitBreaker":{"minimumThroughput":1}}}}""", "targets.catalog.circuitBreaker.minimumThroughput")]
    [InlineData("""{"targets":{"catalog":{"faults":{"errorRate":1.5}}}}""", "targets.catalog.faults.errorRate")]
    [InlineData("""{"targets":{"catalog":{"routing":{"weights":{"1.0":0}}}}}""", "targets.catalog.routing.weights")]
    [InlineData("""{"targets":{"Not A Service":{}}}""", "targets.Not A Service")]
    [InlineData("""{"targets":{"catalog\n":{}}}""", "targets.catalog\n")]
    [InlineData("""{"targets":{"catalog":{"routing":{"canaryHeader":"X-Canary\n"}}}}""", "targets.catalog.routing.canaryHeader")]
    [InlineData("""{"gateway":{"rateLimit":{"userPermitsPerSecond":0}}}""", "gateway.rateLimit.userPermitsPerSecond")]
    [InlineData("""{"gateway":{"rateLimit":{"credentialPermitsPerMinute":0}}}""", "gateway.rateLimit.credentialPermitsPerMinute")]
    [InlineData("""{"gateway":{"rateLimit":{"credentialBurst":0}}}""", "gateway.rateLimit.credentialBurst")]
    [InlineData("""{"targets":{"catalog":{"retry":{"maxRetrys":3}}}}""", "targets.catalog.retry.maxRetrys")]
    [InlineData("""{"targets":{"catalog":{"retry":null}}}""", "targets.catalog.retry")]
    [InlineData("""{"targets":{"catalog":{"totalTimeoutMs":"soon"}}}""", "targets.catalog.totalTimeoutMs")]
    [InlineData("""{"targets":{"catalog":{"totalTimeoutMs":99999999999}}}""", "targets.catalog.totalTimeoutMs")]
    [InlineData("""{"targets":{"catalog":"fast"}}""", "targets.catalog")]
    [InlineData("""{"targets":{"catalog":{"routing":{"weights":{"1.0":2000000000,"2.0":2000000000}}}}}""", "targets.catalog.routing.weights")]
    [InlineData("{", "body")]
    [InlineData("null", "body")]
    [InlineData("[]", "body")]
    public async Task An_invalid_document_is_refused_naming_the_field_and_the_old_one_stays(string document, string field)
    {
        var admin = registry.CreateAdminClient();
        var inForce = (await (await admin.PutAsJsonAsync("/api/registry/policies", WithCatalogRetries(1), MeshPolicy.Json))
            .Content.ReadFromJsonAsync<MeshPolicy>(MeshPolicy.Json))!;

        var refused = await admin.PutAsync("/api/registry/policies", new StringContent(document, System.Text.Encoding.UTF8, "application/json"));

        var problem = await ProblemAssert.IsProblem(refused, HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"errors should name {field}: {problem}");
        Assert.DoesNotMatch(@"(Mercato|System)\.[A-Z]", problem.GetProperty("errors").ToString());
        var after = (await admin.GetFromJsonAsync<MeshPolicy>("/api/registry/policies", MeshPolicy.Json))!;
        Assert.Equal(inForce.Version, after.Version);
        Assert.Equal(1, after.For("catalog").Retry.MaxRetries);
    }

    [Fact]
    public async Task Only_admins_see_or_change_the_policies()
    {
        var customer = registry.CreateCustomerClient();
        Assert.Equal(HttpStatusCode.Forbidden, (await customer.GetAsync("/api/registry/policies")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await customer.PutAsJsonAsync("/api/registry/policies", new MeshPolicy(), MeshPolicy.Json)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await registry.CreateClient().GetAsync("/api/registry/policies")).StatusCode);
    }

    [Fact]
    public async Task The_document_shows_every_default_so_an_operator_sees_what_is_in_force()
    {
        var admin = registry.CreateAdminClient();
        await admin.PutAsJsonAsync("/api/registry/policies", WithCatalogRetries(2), MeshPolicy.Json);
        var json = await admin.GetFromJsonAsync<JsonElement>("/api/registry/policies");
        var catalog = json.GetProperty("targets").GetProperty("catalog");
        Assert.Equal(0.5, catalog.GetProperty("circuitBreaker").GetProperty("failureRatio").GetDouble());
        Assert.Equal("X-Canary", catalog.GetProperty("routing").GetProperty("canaryHeader").GetString());
        Assert.True(json.GetProperty("gateway").GetProperty("rateLimit").GetProperty("userPermitsPerSecond").GetInt32() > 0);
    }

    /// <summary>
    /// A registry that lost its state numbers from 1 again: an instance holding another document of a version it reaches
    /// again must be given the new one, not "not modified".
    /// </summary>
    [Fact]
    public async Task Another_document_at_the_version_an_instance_holds_is_pulled_and_put_in_force()
    {
        await using var before = new RegistryFactory();
        await using var after = new RegistryFactory();
        await before.CreateAdminClient().PutAsJsonAsync("/api/registry/policies", WithCatalogRetries(4), MeshPolicy.Json);
        await after.CreateAdminClient().PutAsJsonAsync("/api/registry/policies", WithCatalogRetries(6), MeshPolicy.Json);
        using var fromBefore = new RegistryClient(before.CreateClient());
        using var fromAfter = new RegistryClient(after.CreateClient());
        var held = (await fromBefore.GetPoliciesAsync(null, CancellationToken.None))!;
        var store = new PolicyStore("ordering");
        store.Apply(held.Policy);

        var pulled = await fromAfter.GetPoliciesAsync(held.ETag, CancellationToken.None);
        store.Apply(pulled!.Policy, evenAtTheSameVersion: true);

        Assert.Equal(held.Policy.Version, pulled.Policy.Version);
        Assert.Equal(6, store.Get("catalog").Retry.MaxRetries);
        Assert.Null(await fromAfter.GetPoliciesAsync(pulled.ETag, CancellationToken.None));
    }

    [Fact]
    public async Task With_a_state_file_the_document_survives_a_registry_restart()
    {
        var stateFile = Path.Combine(Path.GetTempPath(), "mercato-tests", Guid.NewGuid().ToString("N"), "policies.json");
        long version;
        await using (var first = new StatefulRegistry(stateFile))
        {
            var put = await first.CreateAdminClient().PutAsJsonAsync("/api/registry/policies", WithCatalogRetries(7), MeshPolicy.Json);
            version = (await put.Content.ReadFromJsonAsync<MeshPolicy>(MeshPolicy.Json))!.Version;
        }
        await using var second = new StatefulRegistry(stateFile);
        var reloaded = await second.CreateAdminClient().GetFromJsonAsync<MeshPolicy>("/api/registry/policies", MeshPolicy.Json);
        Assert.Equal(version, reloaded!.Version);
        Assert.Equal(7, reloaded.For("catalog").Retry.MaxRetries);
    }

    [Theory]
    [InlineData("""{"version":4,"targets":{"catalog":{"bulkhead":{"maxConcurrency":0}}}}""")]
    [InlineData("""{"version":4,"targets":{"catalog":{"retry":{"maxRetries":""")]
    public async Task An_invalid_saved_document_is_moved_aside_and_the_registry_starts_from_the_defaults(string saved)
    {
        var folder = Directory.CreateTempSubdirectory("mercato-policies-").FullName;
        var stateFile = Path.Combine(folder, "policies.json");
        await File.WriteAllTextAsync(stateFile, saved);

        await using var registry = new StatefulRegistry(stateFile);
        var served = await registry.CreateClient().GetFromJsonAsync<MeshPolicy>("/registry/v1/policies", MeshPolicy.Json);

        Assert.Equal(1, served!.Version);
        Assert.Empty(served.Targets);
        Assert.False(File.Exists(stateFile));
        Assert.Equal(saved, await File.ReadAllTextAsync(Assert.Single(Directory.GetFiles(folder, "policies.json.invalid-*"))));
    }

    [Fact]
    public async Task An_instance_takes_a_document_with_settings_its_build_does_not_know()
    {
        await using var newerRegistry = await LoopbackServer.StartAsync(app => app.MapGet("/registry/v1/policies", () => Results.Text(
            """{"version":9,"targets":{"catalog":{"retry":{"maxRetries":4},"settingFromANewerBuild":true}}}""", "application/json")));
        using var client = new RegistryClient(new HttpClient { BaseAddress = new Uri(LoopbackServer.AddressOf(newerRegistry) + "/") });

        var pulled = await client.GetPoliciesAsync(knownETag: null, CancellationToken.None);

        Assert.Equal((9, 4), (pulled!.Policy.Version, pulled.Policy.For("catalog").Retry.MaxRetries));
    }

    private sealed class StatefulRegistry(string stateFile) : ServiceFactory<Program>
    {
        protected override void ConfigureWebHost(Microsoft.AspNetCore.Hosting.IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            builder.UseSetting("ControlPlane:StateFile", stateFile);
        }
    }
}
