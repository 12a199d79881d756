using System.Net;
using System.Net.Sockets;
using System.Net.Http.Json;
using System.Text.Json;
using Mercato.ServiceDefaults.Discovery;
using Mercato.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Mercato.Registry.Tests;

public sealed class RegistryFactory : ServiceFactory<Program>
{
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.UseSetting("RegistryServer:ProbeInterval", "00:00:00.200");
        builder.UseSetting("RegistryServer:ProbeTimeout", "00:00:01");
        // Tests that are about a registry warming up after a restart ask for it.
        builder.UseSetting("RegistryServer:WarmUp", "00:00:00");
    }
}

public sealed class RegistryApiTests(RegistryFactory registry, HealthyInstance live) : IClassFixture<RegistryFactory>, IClassFixture<HealthyInstance>
{
    private static InstanceRegistration Registration(string service, string address) =>
        new(service, $"{service}-{Guid.NewGuid():N}", address, "2.1.0", new Dictionary<string, string> { ["pid"] = "42" });

    [Fact]
    public async Task Register_heartbeat_list_and_deregister()
    {
        var client = registry.CreateClient();
        var instance = Registration("catalog", live.Address);

        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync("/registry/v1/instances", instance)).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await client.PutAsync($"/registry/v1/instances/{instance.InstanceId}/heartbeat", null)).StatusCode);
        var listed = await client.GetFromJsonAsync<List<ServiceInstance>>("/registry/v1/services/catalog");
        Assert.Contains(listed!, i => i.InstanceId == instance.InstanceId && i.Version == "2.1.0" && i.Metadata["pid"] == "42");

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/registry/v1/instances/{instance.InstanceId}")).StatusCode);
        var heartbeatAfter = await client.PutAsync($"/registry/v1/instances/{instance.InstanceId}/heartbeat", null);
        await ProblemAssert.IsProblem(heartbeatAfter, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task With_a_registration_key_only_holders_of_it_register_renew_or_leave()
    {
        await using var guarded = registry.WithWebHostBuilder(b => b.UseSetting("Registry:RegistrationKey", "the-key"));
        var stranger = guarded.CreateClient();
        var member = guarded.CreateClient();
        member.DefaultRequestHeaders.Add(RegistryOptions.RegistrationKeyHeader, "the-key");
        var impostor = Registration("identity", live.Address);
        var instance = Registration("identity", live.Address);

        await ProblemAssert.IsProblem(await stranger.PostAsJsonAsync("/registry/v1/instances", impostor), HttpStatusCode.Unauthorized);
        using (var wrongKey = new HttpRequestMessage(HttpMethod.Post, "/registry/v1/instances") { Content = JsonContent.Create(impostor) })
        {
            wrongKey.Headers.Add(RegistryOptions.RegistrationKeyHeader, "the-kez");
            await ProblemAssert.IsProblem(await stranger.SendAsync(wrongKey), HttpStatusCode.Unauthorized);
        }
        Assert.Equal(HttpStatusCode.Created, (await member.PostAsJsonAsync("/registry/v1/instances", instance)).StatusCode);
        await ProblemAssert.IsProblem(await stranger.PutAsync($"/registry/v1/instances/{instance.InstanceId}/heartbeat", null), HttpStatusCode.Unauthorized);
        await ProblemAssert.IsProblem(await stranger.DeleteAsync($"/registry/v1/instances/{instance.InstanceId}"), HttpStatusCode.Unauthorized);

        // Discovery stays open to read, and lists only the holder's instance.
        var listed = await stranger.GetFromJsonAsync<List<ServiceInstance>>("/registry/v1/services/identity");
        Assert.Equal([instance.InstanceId], listed!.Select(i => i.InstanceId).Where(id => id == instance.InstanceId || id == impostor.InstanceId));
        Assert.Equal(HttpStatusCode.NoContent, (await member.PutAsync($"/registry/v1/instances/{instance.InstanceId}/heartbeat", null)).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await member.DeleteAsync($"/registry/v1/instances/{instance.InstanceId}")).StatusCode);
    }

    [Fact]
    public async Task An_instance_failing_its_readiness_probe_is_evicted()
    {
        var client = registry.CreateClient();
        // Nothing listens on port 9 (discard) of loopback: the probe cannot connect.
        var dead = Registration("inventory", "http://127.0.0.1:9");
        await client.PostAsJsonAsync("/registry/v1/instances", dead);

        var deadline = DateTime.UtcNow.AddSeconds(10);
        List<ServiceInstance> listed;
        do
        {
            await Task.Delay(100);
            listed = (await client.GetFromJsonAsync<List<ServiceInstance>>("/registry/v1/services/inventory"))!;
        }
        while (listed.Any(i => i.InstanceId == dead.InstanceId) && DateTime.UtcNow < deadline);

        Assert.DoesNotContain(listed, i => i.InstanceId == dead.InstanceId);
        Assert.Equal(HttpStatusCode.NotFound, (await client.PutAsync($"/registry/v1/instances/{dead.InstanceId}/heartbeat", null)).StatusCode);

        // It still heartbeats, so it registers again: kept unlisted, since the registry still cannot reach it.
        var again = await client.PostAsJsonAsync("/registry/v1/instances", dead);
        Assert.Equal(HttpStatusCode.Created, again.StatusCode);
        Assert.Equal(InstanceStatus.Unhealthy, (await again.Content.ReadFromJsonAsync<ServiceInstance>())!.Status);
        Assert.DoesNotContain((await client.GetFromJsonAsync<List<ServiceInstance>>("/registry/v1/services/inventory"))!, i => i.InstanceId == dead.InstanceId);
    }

    [Fact]
    public async Task An_instance_evicted_by_its_probes_is_listed_at_once_when_it_registers_reachable_again()
    {
        var ready = true;
        await using var app = await LoopbackServer.StartAsync(a => a.MapGet("/health/ready", () => ready ? Results.Ok() : Results.StatusCode(503)));
        var client = registry.CreateClient();
        var instance = Registration("payment", LoopbackServer.AddressOf(app));
        await client.PostAsJsonAsync("/registry/v1/instances", instance);
        ready = false;
        await WaitUntilUnlistedAsync(client, "payment", instance.InstanceId);

        ready = true;
        var again = await client.PostAsJsonAsync("/registry/v1/instances", instance);

        Assert.Equal(InstanceStatus.Healthy, (await again.Content.ReadFromJsonAsync<ServiceInstance>())!.Status);
        Assert.Contains((await client.GetFromJsonAsync<List<ServiceInstance>>("/registry/v1/services/payment"))!, i => i.InstanceId == instance.InstanceId);
    }

    [Fact]
    public async Task A_readiness_probe_answered_with_a_redirect_fails()
    {
        // The redirect leads to a healthy instance: followed, the probe would pass.
        await using var app = await LoopbackServer.StartAsync(a => a.MapGet("/health/ready", () => Results.Redirect($"{live.Address}/health/ready")));
        var client = registry.CreateClient();
        var redirecting = Registration("analytics", LoopbackServer.AddressOf(app));
        await client.PostAsJsonAsync("/registry/v1/instances", redirecting);

        await WaitUntilUnlistedAsync(client, "analytics", redirecting.InstanceId);
    }

    [Fact]
    public async Task A_readiness_probe_is_judged_by_its_status_not_by_a_body_that_never_ends()
    {
        // Healthy by its status; its body streams on for as long as anyone reads it. Read whole, every probe timed out,
        // and timed-out probes evict all but one instance of a service.
        await using var app = await LoopbackServer.StartAsync(a => a.MapGet("/health/ready", async (HttpResponse response, CancellationToken ct) =>
        {
            await response.StartAsync(ct);
            while (!ct.IsCancellationRequested)
            {
                await response.WriteAsync("{}", ct);
                await Task.Delay(50, ct);
            }
        }));
        var client = registry.CreateClient();
        var instances = new[] { Registration("streaming", LoopbackServer.AddressOf(app)), Registration("streaming", LoopbackServer.AddressOf(app)) };
        foreach (var instance in instances)
        {
            await client.PostAsJsonAsync("/registry/v1/instances", instance);
        }

        // Long enough for several rounds of probes, each allowed 1 s, and for two timeouts in a row to evict one.
        for (var i = 0; i < 5; i++)
        {
            await Task.Delay(1000);
            Assert.Equal(2, (await client.GetFromJsonAsync<List<ServiceInstance>>("/registry/v1/services/streaming"))!.Count);
        }
    }

    private static async Task WaitUntilUnlistedAsync(HttpClient client, string service, string instanceId)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await client.GetFromJsonAsync<List<ServiceInstance>>($"/registry/v1/services/{service}"))!.Any(i => i.InstanceId == instanceId))
        {
            Assert.True(DateTime.UtcNow < deadline, $"{instanceId} is still listed");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Probes_that_only_time_out_evict_all_but_the_last_instance_of_a_service()
    {
        // A hung instance: the kernel accepts the connection, nothing ever answers, so every probe times out (1 s here).
        using var hung = new TcpListener(IPAddress.Loopback, 0);
        hung.Start();
        var address = $"http://127.0.0.1:{((IPEndPoint)hung.LocalEndpoint).Port}";
        var client = registry.CreateClient();
        var instances = new[] { Registration("shipping", address), Registration("shipping", address) };
        foreach (var instance in instances)
        {
            await client.PostAsJsonAsync("/registry/v1/instances", instance);
        }
        async Task<List<ServiceInstance>> Listed() => (await client.GetFromJsonAsync<List<ServiceInstance>>("/registry/v1/services/shipping"))!;

        var deadline = DateTime.UtcNow.AddSeconds(15);
        while ((await Listed()).Count > 1 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }
        var survivor = Assert.Single(await Listed());

        // Several more rounds of timed-out probes (two in a row evicted its sibling): the last instance stays listed.
        for (var i = 0; i < 5; i++)
        {
            await Task.Delay(1000);
            await client.PutAsync($"/registry/v1/instances/{survivor.InstanceId}/heartbeat", null);
            Assert.Equal(survivor.InstanceId, Assert.Single(await Listed()).InstanceId);
        }
    }

    [Theory]
    [InlineData("""{"serviceName":"Bad Name","instanceId":"x","address":"http://a:1","version":"1"}""", "serviceName")]
    [InlineData("""{"serviceName":"ok","instanceId":"","address":"http://a:1","version":"1"}""", "instanceId")]
    [InlineData("""{"serviceName":"ok","instanceId":"x","address":"ftp://a","version":"1"}""", "address")]
    [InlineData("""{"serviceName":"ok","instanceId":"x","address":"http://internal/admin/x?a=","version":"1"}""", "address")]
    [InlineData("""{"serviceName":"ok","instanceId":"x","address":"http://a:1/base","version":"1"}""", "address")]
    [InlineData("""{"serviceName":"ok","instanceId":"x","address":"http://a:1/#f","version":"1"}""", "address")]
    [InlineData("""{"serviceName":"ok","instanceId":"x","address":"http://a:1","version":""}""", "version")]
    [InlineData("""{"serviceName":"ok","instanceId":"x-\u00e9","address":"http://a:1","version":"1"}""", "instanceId")]
    [InlineData("""{"serviceName":"ok","instanceId":"x/y","address":"http://a:1","version":"1"}""", "instanceId")]
    [InlineData("""{"serviceName":"ok\n","instanceId":"x","address":"http://a:1","version":"1"}""", "serviceName")]
    [InlineData("""{"serviceName":"ok","instanceId":"x\n","address":"http://a:1","version":"1"}""", "instanceId")]
    [InlineData("""{"serviceName":"ok","instanceId":"x","address":"http://user:pw@a:1","version":"1"}""", "address")]
    [InlineData("""{"serviceName":"ok","instanceId":"x","address":"http://a:1","version":"1\u0000"}""", "version")]
    [InlineData("""{"serviceName":"ok","instanceId":"x","address":"http://a:1","version":"1","metadata":{"k\u202e":"v"}}""", "metadata")]
    public async Task Invalid_registrations_are_rejected(string json, string field)
    {
        var client = registry.CreateClient();
        var response = await client.PostAsync("/registry/v1/instances", new StringContent(json, System.Text.Encoding.UTF8, "application/json"));
        await ProblemAssert.NamesField(response, field);
        Assert.DoesNotContain((await client.GetFromJsonAsync<ServiceInstance[]>("/registry/v1/instances"))!, i => i.ServiceName == "ok");
    }

    [Fact]
    public async Task A_service_at_its_instance_limit_takes_no_new_instance_but_renews_its_own()
    {
        await using var limited = registry.WithWebHostBuilder(b => b.UseSetting("RegistryServer:MaxInstancesPerService", "2"));
        var client = limited.CreateClient();
        var service = $"cap{Guid.NewGuid():N}"[..16];
        var first = Registration(service, live.Address);
        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync("/registry/v1/instances", first)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync("/registry/v1/instances", Registration(service, live.Address))).StatusCode);

        await ProblemAssert.NamesField(await client.PostAsJsonAsync("/registry/v1/instances", Registration(service, live.Address)),
            "serviceName", HttpStatusCode.Conflict);
        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync("/registry/v1/instances", first)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync("/registry/v1/instances", Registration("other" + service, live.Address))).StatusCode);
    }

    [Fact]
    public async Task Lookups_say_so_while_the_registry_is_warming_up_after_its_start()
    {
        await using var justStarted = registry.WithWebHostBuilder(b => b.UseSetting("RegistryServer:WarmUp", "01:00:00"));

        foreach (var path in (string[])["/registry/v1/instances", "/registry/v1/services/catalog"])
        {
            Assert.Equal("true", (await justStarted.CreateClient().GetAsync(path)).Headers.GetValues(RegistryWarming.Header).Single());
            Assert.False((await registry.CreateClient().GetAsync(path)).Headers.Contains(RegistryWarming.Header));
        }
    }

    [Fact]
    public async Task The_service_list_is_for_admins()
    {
        var anonymous = await registry.CreateClient().GetAsync("/api/registry/services");
        var customer = await registry.CreateCustomerClient().GetAsync("/api/registry/services");
        var admin = await registry.CreateAdminClient().GetAsync("/api/registry/services");

        await ProblemAssert.IsProblem(anonymous, HttpStatusCode.Unauthorized);
        await ProblemAssert.IsProblem(customer, HttpStatusCode.Forbidden);
        Assert.Equal(HttpStatusCode.OK, admin.StatusCode);
        Assert.Equal(JsonValueKind.Array, (await admin.Content.ReadFromJsonAsync<JsonElement>()).ValueKind);
    }
}
