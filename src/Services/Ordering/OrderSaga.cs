using Mercato.Contracts;
using Mercato.Ordering.Data;
using Mercato.Ordering.Domain;
using Microsoft.Extensions.Options;
using Wolverine;
using Wolverine.Persistence.Sagas;
using System.ComponentModel.DataAnnotations;

namespace Mercato.Ordering;

public sealed class OrderingOptions
{
    /// <summary>A saga step that gets no answer within this time counts as failed.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "1.00:00:00", ErrorMessage = "Ordering:StepTimeout must be from {1} to {2}.")]
    public TimeSpan StepTimeout { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>Starts the saga for an order just submitted (sent locally, in the same transaction as the Submitted event).</summary>
public sealed record StartOrderSaga(Guid OrderId, Guid CustomerId, IReadOnlyList<OrderLine> Lines, decimal Total, string PaymentMethod);

public sealed record PaymentTimedOut(Guid OrderId, TimeSpan After) : TimeoutMessage(After);

public sealed record StockTimedOut(Guid OrderId, TimeSpan After) : TimeoutMessage(After);

public enum SagaStage
{
    AwaitingPayment,
    AwaitingStock,
}

/// <summary>
/// The spec's OrderSagaOrchestrator: capture payment → reserve stock → confirm. A failure or a timeout runs the
/// compensations of the steps already done, in reverse (release stock, refund), and cancels with the reason. Its state
/// lives in Ordering's database, next to the order's events and the outbox, and every step commits with them.
/// </summary>
public sealed class OrderSaga : Saga
{
    public Guid Id { get; set; }

    public Guid CustomerId { get; set; }

    public SagaStage Stage { get; set; }

    public decimal Total { get; set; }

    public string LinesJson { get; set; } = "[]";

    private IReadOnlyList<OrderLine> Lines => System.Text.Json.JsonSerializer.Deserialize<List<OrderLine>>(LinesJson, OrderEventStore.Json)!;

    public static (OrderSaga, OutgoingMessages) Start(StartOrderSaga start, IOptions<OrderingOptions> options)
    {
        var saga = new OrderSaga
        {
            Id = start.OrderId,
            CustomerId = start.CustomerId,
            Stage = SagaStage.AwaitingPayment,
            Total = start.Total,
            LinesJson = System.Text.Json.JsonSerializer.Serialize(start.Lines, OrderEventStore.Json),
        };
        return (saga, [
            new CapturePayment(start.OrderId, start.CustomerId, start.Total, start.PaymentMethod),
            new PaymentTimedOut(start.OrderId, options.Value.StepTimeout),
        ]);
    }

    public async Task<OutgoingMessages> Handle([SagaIdentityFrom(nameof(PaymentCaptured.OrderId))] PaymentCaptured captured,
        OrderEventStore store, IOptions<OrderingOptions> options, TimeProvider time)
    {
        if (Stage != SagaStage.AwaitingPayment)
        {
            return [];
        }
        await store.AppendAsync(Id, new OrderEvent.PaymentCaptured(captured.PaymentId, captured.Amount, time.GetUtcNow()));
        Stage = SagaStage.AwaitingStock;
        return [new ReserveStock(Id, Lines), new StockTimedOut(Id, options.Value.StepTimeout)];
    }

    public async Task<OutgoingMessages> Handle([SagaIdentityFrom(nameof(PaymentDeclined.OrderId))] PaymentDeclined declined,
        OrderEventStore store, TimeProvider time)
    {
        if (Stage != SagaStage.AwaitingPayment)
        {
            return [];
        }
        var now = time.GetUtcNow();
        await store.AppendAsync(Id, new OrderEvent.PaymentDeclined(declined.Reason, now), new OrderEvent.Cancelled($"Payment declined: {declined.Reason}", now));
        return Finish(new OrderCancelled(Id, CustomerId, $"Payment declined: {declined.Reason}", now));
    }

    public async Task<OutgoingMessages> Handle([SagaIdentityFrom(nameof(StockReserved.OrderId))] StockReserved reserved,
        OrderEventStore store, TimeProvider time)
    {
        if (Stage != SagaStage.AwaitingStock)
        {
            return [];
        }
        var now = time.GetUtcNow();
        await store.AppendAsync(Id, new OrderEvent.StockReserved(now), new OrderEvent.Confirmed(now));
        var messages = Finish(new OrderConfirmed(Id, CustomerId, Total, Lines, now));
        messages.Add(new CommitStock(Id));
        return messages;
    }

    public async Task<OutgoingMessages> Handle([SagaIdentityFrom(nameof(StockReservationFailed.OrderId))] StockReservationFailed failed,
        OrderEventStore store, TimeProvider time)
    {
        if (Stage != SagaStage.AwaitingStock)
        {
            return [];
        }
        var now = time.GetUtcNow();
        var reason = $"Insufficient stock: {failed.Reason}";
        await store.AppendAsync(Id, new OrderEvent.StockRejected(failed.Reason, now), new OrderEvent.RefundRequested(now), new OrderEvent.Cancelled(reason, now));
        var messages = Finish(new OrderCancelled(Id, CustomerId, reason, now));
        messages.Add(new RefundPayment(Id, reason));
        return messages;
    }

    public async Task<OutgoingMessages> Handle([SagaIdentityFrom(nameof(PaymentTimedOut.OrderId))] PaymentTimedOut timeout,
        OrderEventStore store, TimeProvider time)
    {
        if (Stage != SagaStage.AwaitingPayment)
        {
            return [];
        }
        var now = time.GetUtcNow();
        const string reason = "Payment did not answer in time.";
        // The capture may still arrive: the refund voids it (Payment refuses a capture for a refunded order).
        await store.AppendAsync(Id, new OrderEvent.StepTimedOut("payment", now), new OrderEvent.RefundRequested(now), new OrderEvent.Cancelled(reason, now));
        var messages = Finish(new OrderCancelled(Id, CustomerId, reason, now));
        messages.Add(new RefundPayment(Id, reason));
        return messages;
    }

    public async Task<OutgoingMessages> Handle([SagaIdentityFrom(nameof(StockTimedOut.OrderId))] StockTimedOut timeout,
        OrderEventStore store, TimeProvider time)
    {
        if (Stage != SagaStage.AwaitingStock)
        {
            return [];
        }
        var now = time.GetUtcNow();
        const string reason = "Inventory did not answer in time.";
        // Compensate in reverse: release whatever may have been held, then refund.
        await store.AppendAsync(Id, new OrderEvent.StepTimedOut("inventory", now), new OrderEvent.StockReleaseRequested(now),
            new OrderEvent.RefundRequested(now), new OrderEvent.Cancelled(reason, now));
        var messages = Finish(new OrderCancelled(Id, CustomerId, reason, now));
        messages.Add(new ReleaseStock(Id));
        messages.Add(new RefundPayment(Id, reason));
        return messages;
    }

    private OutgoingMessages Finish(object integrationEvent)
    {
        MarkCompleted();
        return [integrationEvent];
    }

    // Answers that arrive after the saga finished (late or redelivered): compensate if the order was cancelled meanwhile.

    public static async Task<OutgoingMessages> NotFound(PaymentCaptured captured, OrderEventStore store) =>
        await store.LoadViewAsync(captured.OrderId) is { Status: OrderStatus.Cancelled } ? [new RefundPayment(captured.OrderId, "Order was cancelled.")] : [];

    public static async Task<OutgoingMessages> NotFound(StockReserved reserved, OrderEventStore store) =>
        await store.LoadViewAsync(reserved.OrderId) is { Status: OrderStatus.Cancelled } ? [new ReleaseStock(reserved.OrderId)] : [];

    public static void NotFound(PaymentDeclined declined)
    {
    }

    public static void NotFound(StockReservationFailed failed)
    {
    }

    public static void NotFound(PaymentTimedOut timeout)
    {
    }

    public static void NotFound(StockTimedOut timeout)
    {
    }
}

/// <summary>Records completed compensations on the order's stream (after the saga has finished).</summary>
public static class CompensationHandler
{
    public static async Task Handle(PaymentRefunded refunded, OrderEventStore store, TimeProvider time)
    {
        var view = await store.LoadViewAsync(refunded.OrderId);
        if (view is null || view.Steps.Any(s => s is { Name: "refund", Status: "completed" }))
        {
            return;
        }
        await store.AppendAsync(refunded.OrderId, new OrderEvent.PaymentRefunded(refunded.PaymentId, refunded.Amount, time.GetUtcNow()));
    }

    /// <summary>Only a refund the order asked for is recorded: payment also answers cancellations that charged nothing.</summary>
    public static async Task Handle(PaymentVoided voided, OrderEventStore store, TimeProvider time)
    {
        var view = await store.LoadViewAsync(voided.OrderId);
        if (view is null || !view.Steps.Any(s => s is { Name: "refund", Status: "pending" }))
        {
            return;
        }
        await store.AppendAsync(voided.OrderId, new OrderEvent.PaymentVoided(time.GetUtcNow()));
    }

    /// <summary>Only a release the order asked for is recorded: inventory also answers cancellations that held nothing.</summary>
    public static async Task Handle(StockReleased released, OrderEventStore store, TimeProvider time)
    {
        var view = await store.LoadViewAsync(released.OrderId);
        if (view is null || !view.Steps.Any(s => s is { Name: "release", Status: "requested" }))
        {
            return;
        }
        await store.AppendAsync(released.OrderId, new OrderEvent.StockReleased(time.GetUtcNow()));
    }
}
