using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mercato.Contracts;
using Mercato.Testing;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Mercato.Notification;
using Wolverine;
using Wolverine.Persistence.Durability;

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
    public async Task The_detailed_health_report_shows_what_the_inbox_and_outbox_hold_and_a_backlog_past_the_limit_degrades_it()
    {
        var outbox = (await notification.CreateClient().GetFromJsonAsync<JsonElement>("/health")).GetProperty("checks").GetProperty("outbox");
        Assert.Equal("Healthy", outbox.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Number, outbox.GetProperty("data").GetProperty("outgoing").ValueKind);

        await using var strict = notification.WithWebHostBuilder(b => b.UseSetting("Health:OutboxBacklogLimit", "0"));
        var report = await strict.CreateClient().GetAsync("/health");
        var degraded = (await report.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("checks").GetProperty("outbox");
        Assert.Equal("Degraded", degraded.GetProperty("status").GetString());
        // Not part of readiness: a backlog does not take the instance out of service.
        Assert.Equal(HttpStatusCode.OK, (await strict.CreateClient().GetAsync("/health/ready")).StatusCode);
    }

    [Fact]
    public async Task A_stopped_listener_degrades_the_detailed_health_report_and_not_readiness()
    {
        await using var service = new ListeningFactory();
        var client = service.CreateClient();
        var listener = Assert.Single(service.Services.GetRequiredService<Wolverine.Runtime.IWolverineRuntime>().Endpoints.ActiveListeners(),
            l => l.Uri.Scheme == "tcp");
        async Task<JsonElement> ListenersAsync() =>
            (await client.GetFromJsonAsync<JsonElement>("/health")).GetProperty("checks").GetProperty("listeners");
        Assert.Equal("Healthy", (await ListenersAsync()).GetProperty("status").GetString());

        await listener.StopAndDrainAsync();

        var stopped = await ListenersAsync();
        Assert.Equal("Degraded", stopped.GetProperty("status").GetString());
        Assert.Contains(listener.Uri.ToString(), stopped.GetProperty("description").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/ready")).StatusCode);
        await listener.StartAsync();
        Assert.Equal("Healthy", (await ListenersAsync()).GetProperty("status").GetString());
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

    [Fact]
    public async Task A_customers_notifications_come_a_page_at_a_time_newest_first_with_the_count_of_all()
    {
        var customer = Guid.NewGuid();
        var orders = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            orders.Add(Guid.NewGuid());
            await Deliver(new OrderCancelled(orders[^1], customer, "declined", DateTimeOffset.UtcNow));
        }
        var client = notification.CreateClientWithToken(notification.Tokens.Issue(customer, "customer"));

        var first = await client.GetAsync("/api/notifications?pageSize=2");
        var second = await client.GetAsync("/api/notifications?pageSize=2&page=2");

        Assert.Equal("3", Assert.Single(first.Headers.GetValues("X-Total-Count")));
        Assert.Equal([orders[2], orders[1]], (await first.Content.ReadFromJsonAsync<JsonElement>()).EnumerateArray().Select(n => n.GetProperty("orderId").GetGuid()));
        Assert.Equal([orders[0]], (await second.Content.ReadFromJsonAsync<JsonElement>()).EnumerateArray().Select(n => n.GetProperty("orderId").GetGuid()));
        await ProblemAssert.NamesField(await client.GetAsync("/api/notifications?pageSize=501"), "pageSize");
        await ProblemAssert.NamesField(await client.GetAsync("/api/notifications?page=0"), "page");
    }
}

/// <summary>Notification with its real TCP message listener on a free loopback port.</summary>
public sealed class ListeningFactory : ServiceFactory<Program>
{
    protected override bool WithMessageListener => true;

    protected override void ConfigureWebHost(Microsoft.AspNetCore.Hosting.IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        // Not a port the kernel hands out (port 0): another process could take it between this pick and the bind.
        builder.UseSetting("Messaging:Port", LoopbackPorts.Free().ToString(System.Globalization.CultureInfo.InvariantCulture));
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

/// <summary>The dead-letter list pages, and says how many there are in all.</summary>
public sealed class DeadLetterPagingTests(ServiceFactory<Program> notification) : IClassFixture<ServiceFactory<Program>>
{
    [Fact]
    public Task Dead_letters_are_listed_a_page_at_a_time_with_the_total() => AssertPagesAsync(notification);

    [SkippableFact]
    public async Task Dead_letters_are_listed_a_page_at_a_time_with_the_total_on_postgresql()
    {
        await using var database = await PostgresTestDatabase.CreateAsync("dead_letter_pages");
        await using var scaleOut = database.ScaleOutHost<Program>("notification");
        await AssertPagesAsync(scaleOut);
    }

    private static async Task AssertPagesAsync(ServiceFactory<Program> notification)
    {
        var store = notification.Services.GetRequiredService<IMessageStore>();
        var stored = new List<Guid>();
        for (var i = 0; i < 5; i++)
        {
            var envelope = new Envelope(new SendNotification(Guid.NewGuid())) { Id = Guid.NewGuid(), Destination = new Uri("local://notifications") };
            await store.Inbox.MoveToDeadLetterStorageAsync(envelope, new InvalidOperationException($"failure {i}"));
            stored.Add(envelope.Id);
        }
        var admin = notification.CreateAdminClient();

        var pages = new List<HttpResponseMessage>();
        for (var page = 1; page <= 4; page++)
        {
            pages.Add(await admin.GetAsync($"/api/notifications/admin/dead-letters?page={page}&pageSize=2"));
        }
        var ids = new List<List<Guid>>();
        foreach (var page in pages)
        {
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Equal("5", Assert.Single(page.Headers.GetValues("X-Total-Count")));
            ids.Add([.. (await page.Content.ReadFromJsonAsync<JsonElement>()).EnumerateArray().Select(d => d.GetProperty("id").GetGuid())]);
        }

        Assert.Equal([2, 2, 1, 0], ids.Select(p => p.Count));
        Assert.Equal(stored.Order(), ids.SelectMany(p => p).Order());
        var otherType = await admin.GetAsync("/api/notifications/admin/dead-letters?messageType=NoSuchMessage");
        Assert.Equal("0", Assert.Single(otherType.Headers.GetValues("X-Total-Count")));
        Assert.Empty((await otherType.Content.ReadFromJsonAsync<JsonElement>()).EnumerateArray());
        await ProblemAssert.NamesField(await admin.GetAsync("/api/notifications/admin/dead-letters?pageSize=501"), "pageSize");
        await ProblemAssert.NamesField(await admin.GetAsync("/api/notifications/admin/dead-letters?page=0"), "page");
        await ProblemAssert.NamesField(await admin.GetAsync("/api/notifications/admin/dead-letters?page=x"), "page");
        await ProblemAssert.NamesField(await admin.GetAsync("/api/notifications/admin/dead-letters?messageType=Send%00Notification"), "messageType");
        await ProblemAssert.NamesField(await admin.GetAsync("/api/notifications/admin/dead-letters?messageType=A&messageType=B"), "messageType");
        await ProblemAssert.NamesField(await admin.GetAsync("/api/notifications/admin/dead-letters?messageType=%20"), "messageType");
    }
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
                .FirstOrDefault(d => d.GetProperty("messageType").GetString()!.Contains(nameof(SendNotification), StringComparison.Ordinal));
        }
        Assert.Equal(JsonValueKind.Object, dead.ValueKind);
        Assert.Contains("SMTP relay refused", dead.GetProperty("exceptionMessage").GetString(), StringComparison.Ordinal);
        // Recorded (the event was handled), not sent: what failed, and waits for replay, is the send.
        Assert.Equal(JsonValueKind.Null, (await NotificationOfAsync(order)).GetProperty("sentAt").ValueKind);

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
            delivered = (await NotificationOfAsync(order)).GetProperty("sentAt").ValueKind == JsonValueKind.String;
        }
        Assert.True(delivered, "the replayed message was not processed");
        await ProblemAssert.NamesField(await admin.PostAsJsonAsync("/api/notifications/admin/dead-letters/replay", new { ids = Array.Empty<Guid>() }), "ids");
        await ProblemAssert.IsProblem(await notification.CreateCustomerClient().GetAsync("/api/notifications/admin/dead-letters"), HttpStatusCode.Forbidden);
    }

    private async Task<JsonElement> NotificationOfAsync(Guid order) =>
        Assert.Single((await notification.CreateCustomerClient().GetFromJsonAsync<JsonElement>("/api/notifications")).EnumerateArray(),
            n => n.GetProperty("orderId").GetGuid() == order);
}

/// <summary>
/// A channel whose first send goes out and then fails with SQLite's "database is locked", as the handler's commit that
/// records the send fails when another process holds the file: the unit of work fails after the message went out.
/// Every send is recorded with the notification's id.
/// </summary>
public sealed class BusyOnceSender : INotificationSender
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<Guid> _sent = new();

    public IReadOnlyCollection<Guid> Sent => _sent;

    public Task SendAsync(Data.NotificationRecord notification, CancellationToken ct)
    {
        _sent.Enqueue(notification.Id);
        // SQLITE_BUSY (5): what a commit meets on a locked file, and what the messaging policy retries as transient.
        return _sent.Count > 1 ? Task.CompletedTask : Task.FromException(new SqliteException("database is locked", 5));
    }
}

public sealed class BusyDatabaseFactory : ServiceFactory<Program>
{
    public BusyOnceSender Sender { get; } = new();

    protected override void ConfigureTestServices(IServiceCollection services) => services.AddSingleton<INotificationSender>(Sender);
}

public sealed class BusyDatabaseTests(BusyDatabaseFactory notification) : IClassFixture<BusyDatabaseFactory>
{
    [Fact]
    public async Task A_send_whose_unit_of_work_fails_after_it_went_out_is_retried_under_the_same_id_not_dead_lettered()
    {
        var order = Guid.NewGuid();
        await using (var scope = notification.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<IMessageBus>()
                .PublishAsync(new OrderConfirmed(order, notification.CustomerId, 3m, [new OrderLine(Guid.NewGuid(), 1, 3m)], DateTimeOffset.UtcNow));
        }

        JsonElement record = default;
        for (var i = 0; i < 300 && record.ValueKind != JsonValueKind.Object; i++)
        {
            await Task.Delay(100);
            record = (await notification.CreateCustomerClient().GetFromJsonAsync<JsonElement>("/api/notifications")).EnumerateArray()
                .FirstOrDefault(n => n.GetProperty("orderId").GetGuid() == order && n.GetProperty("sentAt").ValueKind == JsonValueKind.String);
        }

        Assert.True(record.ValueKind == JsonValueKind.Object, "the notification was not recorded as sent after the retry");
        // Sent twice, because the first attempt failed after sending; both times under the record's id, which is what lets a
        // real provider drop the repeat.
        Assert.Equal([record.GetProperty("id").GetGuid(), record.GetProperty("id").GetGuid()], notification.Sender.Sent);
        Assert.Empty((await notification.CreateAdminClient().GetFromJsonAsync<JsonElement>("/api/notifications/admin/dead-letters")).EnumerateArray());
    }
}
