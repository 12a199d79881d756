using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mercato.Contracts;
using Mercato.Testing;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Mercato.Notification;
using Wolverine;

namespace Mercato.Notification.Tests;

public sealed class NotificationTests(ServiceFactory<Program> notification) : IClassFixture<ServiceFactory<Program>>
{
    [Fact]
    public async Task Every_operation_in_the_openapi_document_lists_its_answers() =>
        await OpenApiAssert.EveryOperationDocumentsItsAnswersAsync(notification.CreateClient());

    private async Task Deliver(object message)
    {
        await using var scope = notification.Services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<IMessageBus>().InvokeAsync(message);
    }

    [Fact]
    public async Task One_notification_per_order_outcome_even_when_the_event_is_redelivered()
    {
        var order = Guid.NewGuid();
        var confirmed = new OrderConfirmed(order, notification.CustomerId, 12.5m, [new OrderLine(Guid.NewGuid(), 1, 12.5m)], DateTimeOffset.UtcNow);

        await Deliver(confirmed);
        await Deliver(confirmed);
        var mine = await notification.CreateCustomerClient().GetFromJsonAsync<JsonElement>("/api/notifications");

        var only = Assert.Single(mine.EnumerateArray(), n => n.GetProperty("orderId").GetGuid() == order);
        Assert.Equal("order_confirmed", only.GetProperty("type").GetString());
    }

    [Fact]
    public async Task Customers_see_only_their_own_notifications()
    {
        var stranger = Guid.NewGuid();
        await Deliver(new OrderCancelled(Guid.NewGuid(), stranger, "declined", DateTimeOffset.UtcNow));

        var mine = await notification.CreateCustomerClient().GetFromJsonAsync<JsonElement>("/api/notifications");
        var theirs = await notification.CreateClientWithToken(notification.Tokens.Issue(stranger, "customer")).GetFromJsonAsync<JsonElement>("/api/notifications");

        Assert.DoesNotContain(mine.EnumerateArray(), n => n.GetProperty("type").GetString() == "order_cancelled");
        Assert.Equal("order_cancelled", Assert.Single(theirs.EnumerateArray()).GetProperty("type").GetString());
        await ProblemAssert.IsProblem(await notification.CreateClient().GetAsync("/api/notifications"), HttpStatusCode.Unauthorized);
    }
}

/// <summary>A notification channel that can be switched off to make deliveries fail.</summary>
public sealed class SwitchableSender : INotificationSender
{
    public bool Broken { get; set; }

    public Task SendAsync(Data.NotificationRecord notification, CancellationToken ct) =>
        Broken ? throw new InvalidOperationException("SMTP relay refused the message") : Task.CompletedTask;
}

public sealed class BrokenChannelFactory : ServiceFactory<Program>
{
    public SwitchableSender Sender { get; } = new();

    protected override void ConfigureTestServices(IServiceCollection services) => services.AddSingleton<INotificationSender>(Sender);
}

public sealed class DeadLetterTests(BrokenChannelFactory notification) : IClassFixture<BrokenChannelFactory>
{
    [Fact]
    public async Task A_message_that_cannot_be_processed_is_dead_lettered_with_its_reason_and_can_be_replayed()
    {
        var admin = notification.CreateAdminClient();
        var order = Guid.NewGuid();
        notification.Sender.Broken = true;
        await using (var scope = notification.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<IMessageBus>()
                .PublishAsync(new OrderCancelled(order, notification.CustomerId, "declined", DateTimeOffset.UtcNow));
        }

        JsonElement dead = default;
        for (var i = 0; i < 200 && dead.ValueKind != JsonValueKind.Object; i++)
        {
            await Task.Delay(100);
            dead = (await admin.GetFromJsonAsync<JsonElement>("/api/notifications/admin/dead-letters")).EnumerateArray()
                .FirstOrDefault(d => d.GetProperty("messageType").GetString()!.Contains("OrderCancelled", StringComparison.Ordinal));
        }
        Assert.Equal(JsonValueKind.Object, dead.ValueKind);
        Assert.Contains("SMTP relay refused", dead.GetProperty("exceptionMessage").GetString(), StringComparison.Ordinal);
        Assert.Empty((await notification.CreateCustomerClient().GetFromJsonAsync<JsonElement>("/api/notifications")).EnumerateArray());

        notification.Sender.Broken = false;
        var deadId = dead.GetProperty("id").GetGuid();
        // An id that names no dead letter refuses the whole request: nothing is marked for replay.
        await ProblemAssert.NamesField(
            await admin.PostAsJsonAsync("/api/notifications/admin/dead-letters/replay", new { ids = new[] { deadId, Guid.NewGuid() } }), "ids[1]");
        Assert.False((await admin.GetFromJsonAsync<JsonElement>("/api/notifications/admin/dead-letters")).EnumerateArray()
            .Single(d => d.GetProperty("id").GetGuid() == deadId).GetProperty("replayable").GetBoolean());

        var replay = await admin.PostAsJsonAsync("/api/notifications/admin/dead-letters/replay", new { ids = new[] { deadId, deadId } });
        Assert.Equal(HttpStatusCode.Accepted, replay.StatusCode);
        Assert.Equal(1, (await replay.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("replaying").GetInt32());

        var delivered = false;
        for (var i = 0; i < 300 && !delivered; i++)
        {
            await Task.Delay(100);
            delivered = (await notification.CreateCustomerClient().GetFromJsonAsync<JsonElement>("/api/notifications")).EnumerateArray()
                .Any(n => n.GetProperty("orderId").GetGuid() == order);
        }
        Assert.True(delivered, "the replayed message was not processed");
        await ProblemAssert.NamesField(await admin.PostAsJsonAsync("/api/notifications/admin/dead-letters/replay", new { ids = Array.Empty<Guid>() }), "ids");
        await ProblemAssert.IsProblem(await notification.CreateCustomerClient().GetAsync("/api/notifications/admin/dead-letters"), HttpStatusCode.Forbidden);
    }
}

/// <summary>
/// A channel whose first send meets the real database busy, as any query of a handler does while another process holds
/// the write lock: it tries to write to the service's own SQLite file, whose lock the handler's transaction holds, and
/// SQLite gives up after a 1 s busy timeout with its raw "database is locked" error.
/// </summary>
public sealed class BusyOnceSender(string databaseFile) : INotificationSender
{
    private int _calls;

    public int Calls => _calls;

    public async Task SendAsync(Data.NotificationRecord notification, CancellationToken ct)
    {
        if (Interlocked.Increment(ref _calls) > 1)
        {
            return;
        }
        await using var other = new SqliteConnection($"Data Source={databaseFile};Default Timeout=1;Pooling=False");
        await other.OpenAsync(ct);
        await using var write = other.CreateCommand();
        write.CommandText = "BEGIN IMMEDIATE;";
        await write.ExecuteNonQueryAsync(ct);
    }
}

public sealed class BusyDatabaseFactory : ServiceFactory<Program>
{
    public BusyOnceSender Sender { get; }

    public BusyDatabaseFactory() => Sender = new BusyOnceSender(Path.Combine(DataDir, "notification.db"));

    protected override void ConfigureTestServices(IServiceCollection services) => services.AddSingleton<INotificationSender>(Sender);
}

public sealed class BusyDatabaseTests(BusyDatabaseFactory notification) : IClassFixture<BusyDatabaseFactory>
{
    [Fact]
    public async Task A_message_whose_handler_meets_a_busy_database_is_retried_not_dead_lettered()
    {
        var order = Guid.NewGuid();
        await using (var scope = notification.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<IMessageBus>()
                .PublishAsync(new OrderConfirmed(order, notification.CustomerId, 3m, [new OrderLine(Guid.NewGuid(), 1, 3m)], DateTimeOffset.UtcNow));
        }

        var delivered = false;
        for (var i = 0; i < 300 && !delivered; i++)
        {
            await Task.Delay(100);
            delivered = (await notification.CreateCustomerClient().GetFromJsonAsync<JsonElement>("/api/notifications")).EnumerateArray()
                .Any(n => n.GetProperty("orderId").GetGuid() == order);
        }

        Assert.True(delivered, "the message was not handled after the database was free again");
        Assert.Equal(2, notification.Sender.Calls);
        Assert.Empty((await notification.CreateAdminClient().GetFromJsonAsync<JsonElement>("/api/notifications/admin/dead-letters")).EnumerateArray());
    }
}
