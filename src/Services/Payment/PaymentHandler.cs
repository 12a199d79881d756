using Mercato.ServiceDefaults.Telemetry;
using Mercato.Contracts;
using Mercato.Payment.Data;
using Microsoft.EntityFrameworkCore;

namespace Mercato.Payment;

/// <summary>Captures and refunds, each idempotent per order: redelivered commands get the first answer again.</summary>
public static class PaymentHandler
{
    public static Task<object> Handle(CapturePayment command, PaymentDb db, SimulatedPaymentProvider provider, TimeProvider time, ILogger<PaymentRecord> logger) =>
        CaptureAsync(command, db, provider, time, logger);

    /// <summary>Choreography: an announced order is charged without anyone asking.</summary>
    public static Task<object> Handle(OrderSubmitted order, PaymentDb db, SimulatedPaymentProvider provider, TimeProvider time, ILogger<PaymentRecord> logger) =>
        CaptureAsync(new CapturePayment(order.OrderId, order.CustomerId, order.Total, order.PaymentMethod), db, provider, time, logger);

    public static Task<object?> Handle(RefundPayment command, PaymentDb db, TimeProvider time, ILogger<PaymentRecord> logger) =>
        RefundAsync(command, db, time, logger);

    /// <summary>Choreography: compensate by reaction when the stock could not be reserved.</summary>
    public static Task<object?> Handle(StockReservationFailed failed, PaymentDb db, TimeProvider time, ILogger<PaymentRecord> logger) =>
        RefundAsync(new RefundPayment(failed.OrderId, $"Insufficient stock: {failed.Reason}"), db, time, logger);

    /// <summary>Choreography: whatever cancelled the order, no money is kept for it.</summary>
    public static Task<object?> Handle(OrderCancelled cancelled, PaymentDb db, TimeProvider time, ILogger<PaymentRecord> logger) =>
        RefundAsync(new RefundPayment(cancelled.OrderId, cancelled.Reason), db, time, logger);

    private static async Task<object> CaptureAsync(CapturePayment command, PaymentDb db, SimulatedPaymentProvider provider, TimeProvider time, ILogger<PaymentRecord> logger)
    {
        var existing = await db.Payments.SingleOrDefaultAsync(p => p.OrderId == command.OrderId);
        if (existing is not null)
        {
            return existing.Status switch
            {
                PaymentStatus.Captured => new PaymentCaptured(command.OrderId, existing.Id, existing.Amount),
                // A capture asked again after its refund (a late redelivery): announcing it captured would be untrue now.
                PaymentStatus.Refunded => new PaymentDeclined(command.OrderId, "The payment for this order was refunded."),
                PaymentStatus.Voided => new PaymentDeclined(command.OrderId, "The order was cancelled before the payment arrived."),
                _ => new PaymentDeclined(command.OrderId, existing.Reason ?? "Declined."),
            };
        }
        var reason = provider.DeclineReason(command.Amount, command.PaymentMethod);
        var now = time.GetUtcNow();
        var payment = new PaymentRecord
        {
            Id = Guid.CreateVersion7(),
            OrderId = command.OrderId,
            CustomerId = command.CustomerId,
            Amount = command.Amount,
            Method = command.PaymentMethod,
            Status = reason is null ? PaymentStatus.Captured : PaymentStatus.Declined,
            Reason = reason,
            CreatedAt = now,
            UpdatedAt = now,
        };
        db.Payments.Add(payment);
        System.Diagnostics.Activity.Current?.SetTag(SpanTags.OrderId, command.OrderId).SetTag(SpanTags.UserId, command.CustomerId)
            .SetTag(SpanTags.PaymentResult, payment.Status.ToString());
        logger.LogInformation("Payment for order {OrderId}: {Status} {Amount}", command.OrderId, payment.Status, command.Amount);
        return reason is null ? new PaymentCaptured(command.OrderId, payment.Id, payment.Amount) : new PaymentDeclined(command.OrderId, reason);
    }

    /// <returns>
    /// PaymentRefunded when captured money went back; PaymentVoided when there was none to give back, so that the order's
    /// refund step completes either way; nothing for a refund already made (its answer was sent then).
    /// </returns>
    private static async Task<object?> RefundAsync(RefundPayment command, PaymentDb db, TimeProvider time, ILogger<PaymentRecord> logger)
    {
        var payment = await db.Payments.SingleOrDefaultAsync(p => p.OrderId == command.OrderId);
        var now = time.GetUtcNow();
        if (payment is null)
        {
            db.Payments.Add(new PaymentRecord
            {
                Id = Guid.CreateVersion7(),
                OrderId = command.OrderId,
                Method = "none",
                Status = PaymentStatus.Voided,
                Reason = command.Reason,
                CreatedAt = now,
                UpdatedAt = now,
            });
            return new PaymentVoided(command.OrderId);
        }
        if (payment.Status is PaymentStatus.Declined or PaymentStatus.Voided)
        {
            return new PaymentVoided(command.OrderId);
        }
        if (payment.Status != PaymentStatus.Captured)
        {
            return null;
        }
        payment.Status = PaymentStatus.Refunded;
        payment.Reason = command.Reason;
        payment.UpdatedAt = now;
        logger.LogInformation("Refunded {Amount} for order {OrderId}: {Reason}", payment.Amount, command.OrderId, command.Reason);
        return new PaymentRefunded(command.OrderId, payment.Id, payment.Amount);
    }
}
