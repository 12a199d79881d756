using Mercato.Contracts;
using Mercato.Notification.Data;
using Microsoft.EntityFrameworkCore;

namespace Mercato.Notification;

/// <summary>Where a notification goes. The default writes to the log; a real one would send e-mail or push.</summary>
public interface INotificationSender
{
    Task SendAsync(NotificationRecord notification, CancellationToken ct);
}

public sealed class LogNotificationSender(ILogger<LogNotificationSender> logger) : INotificationSender
{
    public Task SendAsync(NotificationRecord notification, CancellationToken ct)
    {
        logger.LogInformation("Notify customer {CustomerId}: {Message}", notification.CustomerId, notification.Message);
        return Task.CompletedTask;
    }
}

/// <summary>Choreography: reacts to the order's outcome, without Ordering knowing this service exists.</summary>
public static class NotificationHandler
{
    public const string OrderConfirmedType = "order_confirmed";
    public const string OrderCancelledType = "order_cancelled";

    public static Task Handle(OrderConfirmed confirmed, NotificationDb db, INotificationSender sender, CancellationToken ct) =>
        NotifyOnce(db, sender, confirmed.CustomerId, confirmed.OrderId, OrderConfirmedType,
            $"Your order {confirmed.OrderId} is confirmed: {confirmed.Total:0.00} charged.", confirmed.ConfirmedAt, ct);

    public static Task Handle(OrderCancelled cancelled, NotificationDb db, INotificationSender sender, CancellationToken ct) =>
        NotifyOnce(db, sender, cancelled.CustomerId, cancelled.OrderId, OrderCancelledType,
            $"Your order {cancelled.OrderId} was cancelled: {cancelled.Reason}", cancelled.CancelledAt, ct);

    private static async Task NotifyOnce(NotificationDb db, INotificationSender sender, Guid customerId, Guid orderId, string type,
        string message, DateTimeOffset at, CancellationToken ct)
    {
        if (await db.Notifications.AnyAsync(n => n.OrderId == orderId && n.Type == type, ct))
        {
            return;
        }
        var notification = new NotificationRecord
        {
            Id = Guid.CreateVersion7(),
            CustomerId = customerId,
            OrderId = orderId,
            Type = type,
            Message = message,
            CreatedAt = at,
            CreatedAtTicks = at.UtcTicks,
        };
        db.Notifications.Add(notification);
        await sender.SendAsync(notification, ct);
    }
}
