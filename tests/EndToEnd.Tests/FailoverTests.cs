using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mercato.Testing;

namespace Mercato.EndToEnd.Tests;

[Collection(SystemCollection.Name)]
public sealed class FailoverTests(EmbeddedSystem system)
{
    private static async Task<List<JsonElement>> CatalogInstancesAsync(HttpClient admin)
    {
        var services = await admin.GetFromJsonAsync<JsonElement>("/api/registry/services");
        return services.EnumerateArray()
            .Where(s => s.GetProperty("name").GetString() == "catalog")
            .SelectMany(s => s.GetProperty("instances").EnumerateArray())
            .ToList();
    }

    private static void Kill(JsonElement instance)
    {
        var pid = int.Parse(instance.GetProperty("metadata").GetProperty("pid").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        using var process = Process.GetProcessById(pid);
        process.Kill(); // SIGKILL: no deregistration, the registry has to notice by itself.
        process.WaitForExit();
    }

    [Fact]
    public async Task Losing_catalog_instances_keeps_reads_answering_then_fails_fast()
    {
        var admin = await system.AdminAsync();
        var instances = await CatalogInstancesAsync(admin);
        Assert.Equal(2, instances.Count);

        // Both instances serve: reads are balanced per request.
        for (var i = 0; i < 6; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await system.Gateway.SendAsync(MercatoSystem.FreshRead("/api/catalog/products?pageSize=1"))).StatusCode);
        }

        var victim = instances[0];
        var victimId = victim.GetProperty("instanceId").GetString();
        var killedAt = Stopwatch.StartNew();
        Kill(victim);
        try
        {
            // Until the registry notices, the gateway must route around the dead instance. First writes (before reads have
            // made passive health eject it; round robin sends one of the first two to it): a refused connection sent nothing,
            // so the gateway may send a write to the other instance.
            for (var i = 0; i < 6; i++)
            {
                var write = await admin.PostAsJsonAsync("/api/catalog/products", new { name = $"Failover Probe {Guid.NewGuid():N}", price = 20m });
                Assert.True(write.StatusCode == HttpStatusCode.Created, $"write {i} after the kill answered {(int)write.StatusCode}");
            }
            // And reads.
            for (var i = 0; i < 20; i++)
            {
                var read = await system.Gateway.SendAsync(MercatoSystem.FreshRead($"/api/catalog/products?page={1 + (i % 3)}&pageSize=5"));
                Assert.True(read.StatusCode == HttpStatusCode.OK, $"read {i} after the kill answered {(int)read.StatusCode}");
            }

            List<JsonElement> remaining;
            do
            {
                await Task.Delay(250);
                remaining = await CatalogInstancesAsync(admin);
            }
            while (remaining.Any(r => r.GetProperty("instanceId").GetString() == victimId) && killedAt.Elapsed < TimeSpan.FromSeconds(20));
            Assert.DoesNotContain(remaining, r => r.GetProperty("instanceId").GetString() == victimId);
            Assert.Single(remaining);

            Kill(remaining[0]);
            using var impatient = new HttpClient { BaseAddress = system.Gateway.BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
            var none = await impatient.SendAsync(MercatoSystem.FreshRead("/api/catalog/products"));
            var json = await ProblemAssert.IsProblem(none, HttpStatusCode.ServiceUnavailable);
            Assert.Contains("catalog", json.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
        finally
        {
            // Other tests share this system: bring both instances back, whatever happened above.
            await system.RestartAsync("catalog", "/api/catalog/products");
        }
    }
}
