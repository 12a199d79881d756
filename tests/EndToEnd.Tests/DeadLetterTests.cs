using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mercato.ServiceDefaults.Resilience;

namespace Mercato.EndToEnd.Tests;

/// <summary>
/// Messages that cannot be processed land in the service's dead-letter store, listed and replayed through its admin API,
/// in both profiles: the scale-out one must not hand them to RabbitMQ's own dead-letter queue, where the API cannot see
/// them.
/// </summary>
public abstract class DeadLetterSuite(MercatoSystem system) : IAsyncLifetime
{
    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>Each test leaves the built-in defaults in force for the next.</summary>
    public async Task DisposeAsync()
    {
        // A skipped test (scale-out servers absent) must stay skipped: a second SkipException from here would be
        // reported with the first as a failure.
        if (system.SkipReason is null)
        {
            await system.ApplyPolicyAsync(await system.AdminAsync(), new MeshPolicy());
        }
    }

    [SkippableFact]
    public async Task A_handler_fault_sends_the_message_to_the_dead_letter_queue_with_the_reason_and_replay_delivers_it()
    {
        var admin = await system.AdminAsync();
        var (customer, customerId, _) = await system.NewCustomerAsync();
        var product = new Guid("00000000-0000-4000-8000-000000000021");
        await MercatoSystem.SetStockAsync(admin, product, 1000);
        await system.ApplyPolicyAsync(admin, MercatoSystem.Policy(("notification", new TargetPolicy { Faults = new FaultPolicy { MessageErrorRate = 1 } })));

        var place = new HttpRequestMessage(HttpMethod.Post, "/api/orders")
        {
            Content = JsonContent.Create(new { items = new[] { new { productId = product, quantity = 1 } } }),
        };
        place.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
        var placed = await customer.SendAsync(place);
        Assert.Equal(HttpStatusCode.Accepted, placed.StatusCode);
        var orderId = (await placed.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid();

        // The saga does not depend on notification: the order completes. The notification lands in the DLQ, with why.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        List<JsonElement> dead = [];
        while (DateTime.UtcNow < deadline)
        {
            dead = [.. (await admin.GetFromJsonAsync<JsonElement>("/api/notifications/admin/dead-letters")).EnumerateArray()
                .Where(d => d.GetProperty("exceptionMessage").GetString()!.Contains("Injected error", StringComparison.Ordinal))];
            if (dead.Count > 0)
            {
                break;
            }
            await Task.Delay(500);
        }
        Assert.NotEmpty(dead);
        Assert.Contains(dead, d => d.GetProperty("exceptionType").GetString()!.EndsWith(nameof(InjectedFaultException), StringComparison.Ordinal));

        await system.ApplyPolicyAsync(admin, MercatoSystem.Policy());
        var replay = await admin.PostAsJsonAsync("/api/notifications/admin/dead-letters/replay", new { ids = dead.Select(d => d.GetProperty("id").GetGuid()).ToArray() });
        Assert.Equal(HttpStatusCode.Accepted, replay.StatusCode);
        deadline = DateTime.UtcNow.AddSeconds(60);
        var notified = false;
        while (!notified && DateTime.UtcNow < deadline)
        {
            var mine = await customer.GetFromJsonAsync<JsonElement>("/api/notifications");
            notified = mine.EnumerateArray().Any(n => n.ToString().Contains(orderId.ToString(), StringComparison.OrdinalIgnoreCase));
            if (!notified)
            {
                await Task.Delay(500);
            }
        }
        Assert.True(notified, $"no notification for order {orderId} after the replay (customer {customerId})");
    }
}

[Collection(SystemCollection.Name)]
public sealed class EmbeddedDeadLetterTests(EmbeddedSystem system) : DeadLetterSuite(system);

[Collection(ScaleOutCollection.Name)]
public sealed class ScaleOutDeadLetterTests(ScaleOutSystem system) : DeadLetterSuite(system);
