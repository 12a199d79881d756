using Mercato.Contracts;
using Mercato.Ordering.Data;
using Mercato.Ordering.Domain;
using Microsoft.Extensions.Options;
using Wolverine;
using Wolverine.EntityFrameworkCore;

namespace Mercato.Ordering;

/// <summary>How a submitted order gets going; the composition root picks one (Ordering:SagaStyle).</summary>
public interface IOrderFlow
{
    /// <summary>Adds the messages that start the flow to the outbox of the transaction that stores the order.</summary>
    ValueTask StartAsync(IDbContextOutbox<OrderingDb> outbox, OrderEvent.Submitted order);
}

/// <summary>Orchestration: Ordering's saga takes it from here.</summary>
public sealed class OrchestratedOrderFlow : IOrderFlow
{
    public ValueTask StartAsync(IDbContextOutbox<OrderingDb> outbox, OrderEvent.Submitted order) =>
        outbox.PublishAsync(new StartOrderSaga(order.OrderId, order.CustomerId, order.Lines, order.Total, order.PaymentMethod));
}

/// <summary>Choreography: announce the order; Payment and Inventory react. Ordering only keeps the deadline.</summary>
public sealed class ChoreographedOrderFlow(IOptions<OrderingOptions> options) : IOrderFlow
{
    public async ValueTask StartAsync(IDbContextOutbox<OrderingDb> outbox, OrderEvent.Submitted order)
    {
        await outbox.PublishAsync(new OrderSubmitted(order.OrderId, order.CustomerId, order.Lines, order.Total, order.PaymentMethod, order.At));
        // Two steps (payment, then stock) must both answer before the deadline.
        await outbox.PublishAsync(new OrderDeadlinePassed(order.OrderId, options.Value.StepTimeout * 2));
    }
}

public sealed record OrderDeadlinePassed(Guid OrderId, TimeSpan After) : TimeoutMessage(After);

/// <summary>
/// The spec's OrderSagaChoreography, Ordering's part: it records what the others did and decides the order's outcome;
/// nobody is commanded. Compensation is also a reaction: Payment refunds on StockReservationFailed or OrderCancelled,
/// Inventory releases on OrderCancelled. The order's own stream tells which answers were already taken into account.
/// </summary>
public static class OrderChoreographyHandler
{
    public static async Task Handle(PaymentCaptured captured, OrderEventStore store, TimeProvider time)
    {
        if (await Pending(store, captured.OrderId, "payment") is not null)
        {
            await store.AppendAsync(captured.OrderId, new OrderEvent.PaymentCaptured(captured.PaymentId, captured.Amount, time.GetUtcNow()));
        }
    }

    public static async Task<OrderCancelled?> Handle(PaymentDeclined declined, OrderEventStore store, TimeProvider time)
    {
        if (await Pending(store, declined.OrderId, "payment") is not { } view)
        {
            return null;
        }
        var now = time.GetUtcNow();
        var reason = $"Payment declined: {declined.Reason}";
        await store.AppendAsync(declined.OrderId, new OrderEvent.PaymentDeclined(declined.Reason, now), new OrderEvent.Cancelled(reason, now));
        return new OrderCancelled(declined.OrderId, view.CustomerId, reason, now);
    }

    public static async Task<OrderConfirmed?> Handle(StockReserved reserved, OrderEventStore store, TimeProvider time)
    {
        if (await AwaitingInventory(store, reserved.OrderId) is not { } view)
        {
            return null;
        }
        var now = time.GetUtcNow();
        await store.AppendAsync(reserved.OrderId, new OrderEvent.StockReserved(now), new OrderEvent.Confirmed(now));
        return new OrderConfirmed(reserved.OrderId, view.CustomerId, view.Total, view.Items, now);
    }

    public static async Task<OrderCancelled?> Handle(StockReservationFailed failed, OrderEventStore store, TimeProvider time)
    {
        if (await AwaitingInventory(store, failed.OrderId) is not { } view)
        {
            return null;
        }
        var now = time.GetUtcNow();
        var reason = $"Insufficient stock: {failed.Reason}";
        await store.AppendAsync(failed.OrderId, new OrderEvent.StockRejected(failed.Reason, now), new OrderEvent.RefundRequested(now), new OrderEvent.Cancelled(reason, now));
        return new OrderCancelled(failed.OrderId, view.CustomerId, reason, now);
    }

    public static async Task<OrderCancelled?> Handle(OrderDeadlinePassed deadline, OrderEventStore store, TimeProvider time)
    {
        var view = await store.LoadViewAsync(deadline.OrderId);
        if (view is not { Status: OrderStatus.Pending })
        {
            return null;
        }
        var now = time.GetUtcNow();
        var step = view.Steps.FirstOrDefault(s => s.Status == "pending")?.Name ?? "payment";
        var reason = step == "inventory" ? "Inventory did not answer in time." : "Payment did not answer in time.";
        await store.AppendAsync(deadline.OrderId, new OrderEvent.StepTimedOut(step, now), new OrderEvent.StockReleaseRequested(now),
            new OrderEvent.RefundRequested(now), new OrderEvent.Cancelled(reason, now));
        return new OrderCancelled(deadline.OrderId, view.CustomerId, reason, now);
    }

    /// <summary>The order, if it is still pending and waiting for <paramref name="step"/>; null for late or repeated answers.</summary>
    private static async Task<OrderView?> Pending(OrderEventStore store, Guid orderId, string step) =>
        WaitingFor(await Load(store, orderId), step);

    /// <summary>
    /// Inventory reacts to PaymentCaptured, so its answer can reach this service before the PaymentCaptured event
    /// itself has been recorded here (another instance may still be handling it): that answer is early, not late.
    /// </summary>
    private static async Task<OrderView?> AwaitingInventory(OrderEventStore store, Guid orderId)
    {
        var view = await Load(store, orderId);
        if (WaitingFor(view, "payment") is not null)
        {
            throw new Mercato.ServiceDefaults.Messaging.NotYetKnownException($"Inventory answered for order {orderId} before its payment was recorded here.");
        }
        return WaitingFor(view, "inventory");
    }

    private static async Task<OrderView> Load(OrderEventStore store, Guid orderId) =>
        await store.LoadViewAsync(orderId) ?? throw new Mercato.ServiceDefaults.Messaging.NotYetKnownException($"Order {orderId} not stored yet.");

    private static OrderView? WaitingFor(OrderView view, string step) =>
        view.Status == OrderStatus.Pending && view.Steps.Any(s => s.Name == step && s.Status == "pending") ? view : null;
}
