using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mercato.Contracts;
using Mercato.Testing;
using Microsoft.Extensions.DependencyInjection;
using Wolverine;

namespace Mercato.Notification.Tests;

public sealed class NotificationTests(ServiceFactory<Program> notification) : IClassFixture<ServiceFactory<Program>>
{
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
