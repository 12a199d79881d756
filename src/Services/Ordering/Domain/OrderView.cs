using Mercato.Contracts;

namespace Mercato.Ordering.Domain;

public static class OrderStatus
{
    public const string Pending = "Pending";
    public const string Confirmed = "Confirmed";
    public const string Cancelled = "Cancelled";
}

public sealed record SagaStep(string Name, string Status, DateTimeOffset At, string? Detail = null);

/// <summary>The order as the API shows it: a projection of the order's events.</summary>
public sealed record OrderView(
    Guid Id,
    Guid CustomerId,
    string Status,
    IReadOnlyList<OrderLine> Items,
    decimal Total,
    string PaymentMethod,
    string? CancellationReason,
    IReadOnlyList<SagaStep> Steps,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    int Version)
{
    /// <summary>Pure: the view after one more event. Rebuilding replays these in order and must give the same view.</summary>
    public static OrderView? Apply(OrderView? view, object @event) => @event switch
    {
        OrderEvent.Submitted e => new OrderView(e.OrderId, e.CustomerId, OrderStatus.Pending, e.Lines, e.Total, e.PaymentMethod, null,
            [new SagaStep("submitted", "completed", e.At), new SagaStep("payment", "pending", e.At)], e.At, e.At, 1),
        _ when view is null => throw new InvalidOperationException($"{@event.GetType().Name} before Submitted"),
        OrderEvent.PaymentCaptured e => view.Step("payment", "completed", e.At, $"captured {e.Amount}").Step("inventory", "pending", e.At).Touch(e.At),
        OrderEvent.PaymentDeclined e => view.Step("payment", "failed", e.At, e.Reason).Touch(e.At),
        OrderEvent.StockReserved e => view.Step("inventory", "completed", e.At).Touch(e.At),
        OrderEvent.StockRejected e => view.Step("inventory", "failed", e.At, e.Reason).Touch(e.At),
        OrderEvent.StepTimedOut e => view.Step(e.Step, "timed-out", e.At).Touch(e.At),
        OrderEvent.Confirmed e => view.Step("confirmation", "completed", e.At).Touch(e.At) with { Status = OrderStatus.Confirmed },
        OrderEvent.Cancelled e => view.Step("cancellation", "completed", e.At, e.Reason).Touch(e.At) with { Status = OrderStatus.Cancelled, CancellationReason = e.Reason },
        OrderEvent.RefundRequested e => view.Requested("refund", "pending", e.At),
        OrderEvent.PaymentRefunded e => view.Step("refund", "completed", e.At, $"refunded {e.Amount}").Touch(e.At),
        OrderEvent.PaymentVoided e => view.Step("refund", "completed", e.At, "nothing was captured").Touch(e.At),
        OrderEvent.StockReleaseRequested e => view.Requested("release", "requested", e.At),
        OrderEvent.StockReleased e => view.Step("release", "completed", e.At).Touch(e.At),
        _ => throw new InvalidOperationException($"Unknown order event {@event.GetType().Name}"),
    };

    /// <summary>
    /// A compensation asked for after its answer was recorded leaves the step completed. In choreography payment refunds
    /// on inventory's failure directly, so its answer can reach ordering before ordering records the failure.
    /// </summary>
    private OrderView Requested(string name, string status, DateTimeOffset at) =>
        Steps.Any(s => s.Name == name && s.Status == "completed") ? Touch(at) : Step(name, status, at).Touch(at);

    private OrderView Step(string name, string status, DateTimeOffset at, string? detail = null)
    {
        var steps = Steps.Where(s => s.Name != name).Append(new SagaStep(name, status, at, detail));
        return this with { Steps = [.. steps] };
    }

    private OrderView Touch(DateTimeOffset at) => this with { UpdatedAt = at, Version = Version + 1 };
}
