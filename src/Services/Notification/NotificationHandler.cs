using Mercato.Contracts;
using Mercato.Notification.Data;
using Microsoft.EntityFrameworkCore;

namespace Mercato.Notification;

/// <summary>
/// Where a notification goes. The default writes to the log; a real one would send e-mail or push. A send can be
/// repeated (the process dies, or the commit that records it fails, after the provider took it), always for the same
/// <see cref="NotificationRecord.Id"/>: a real sender passes it as the provider's idempotency key.
/// </summary>
public interface INotificationSender
{
    Task SendAsync(NotificationRecord notification, CancellationToken ct);
}

/// <summary>A notification as its customer reads it (GET /api/notifications); <c>SentAt</c> is null until the channel took it.</summary>
public sealed record NotificationResponse(Guid Id, string Type, Guid OrderId, string Message, DateTimeOffset CreatedAt, DateTimeOffset? SentAt);

public sealed class LogNotificationSender(ILogger<LogNotificationSender> logger) : INotificationSender
{
    public Task SendAsync(NotificationRecord notification, CancellationToken ct)
    {
        logger.LogInformation("Notify customer {CustomerId} (notification {NotificationId}): {Message}",
            notification.CustomerId, notification.Id, notification.Message);
        return Task.CompletedTask;
    }
}

/// <summary>Send the notification recorded under this id: the second step, queued in the same transaction as the record.</summary>
public sealed record SendNotification(Guid NotificationId);

/// <summary>
/// Choreography: reacts to the order's outcome, without Ordering knowing this service exists. Two steps, so nothing is
/// sent for a record that was never committed: the event's handler records the notification and queues
/// <see cref="SendNotification"/> through the outbox in one transaction; that message's handler sends it and marks it sent.
/// Sending inside the first step sent again, under a new id, whenever its commit failed and the event was retried.
/// </summary>
public static class NotificationHandler
{
    public const string OrderConfirmedType = "order_confirmed";
    public const string OrderCancelledType = "order_cancelled";

    public static Task<SendNotification?> Handle(OrderConfirmed confirmed, NotificationDb db, CancellationToken ct) =>
        RecordOnce(db, confirmed.CustomerId, confirmed.OrderId, OrderConfirmedType,
            $"Your order {confirmed.OrderId} is confirmed: {confirmed.Total:0.00} charged.", confirmed.ConfirmedAt, ct);

    public static Task<SendNotification?> Handle(OrderCancelled cancelled, NotificationDb db, CancellationToken ct) =>
        RecordOnce(db, cancelled.CustomerId, cancelled.OrderId, OrderCancelledType,
            $"Your order {cancelled.OrderId} was cancelled: {cancelled.Reason}", cancelled.CancelledAt, ct);

    public static async Task Handle(SendNotification send, NotificationDb db, INotificationSender sender, CancellationToken ct)
    {
        var notification = await db.Notifications.FindAsync([send.NotificationId], ct);
        if (notification is null || notification.SentAt is not null)
        {
            return;
        }
        await sender.SendAsync(notification, ct);
        notification.SentAt = DateTimeOffset.UtcNow;
    }

    private static async Task<SendNotification?> RecordOnce(NotificationDb db, Guid customerId, Guid orderId, string type,
        string message, DateTimeOffset at, CancellationToken ct)
    {
        if (await db.Notifications.AnyAsync(n => n.OrderId == orderId && n.Type == type, ct))
        {
            return null;
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
        return new SendNotification(notification.Id);
    }
}
