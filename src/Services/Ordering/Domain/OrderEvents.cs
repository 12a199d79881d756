using Mercato.Contracts;

namespace Mercato.Ordering.Domain;

/// <summary>
/// What can happen to an order. The order is stored as the stream of these events; everything the API shows is a
/// projection of them. Names are stored with each event, so they never change once released.
/// </summary>
public static class OrderEvent
{
    public sealed record Submitted(Guid OrderId, Guid CustomerId, IReadOnlyList<OrderLine> Lines, decimal Total, string PaymentMethod, DateTimeOffset At);

    public sealed record PaymentCaptured(Guid PaymentId, decimal Amount, DateTimeOffset At);

    public sealed record PaymentDeclined(string Reason, DateTimeOffset At);

    public sealed record StockReserved(DateTimeOffset At);

    public sealed record StockRejected(string Reason, DateTimeOffset At);

    public sealed record StepTimedOut(string Step, DateTimeOffset At);

    public sealed record Confirmed(DateTimeOffset At);

    public sealed record Cancelled(string Reason, DateTimeOffset At);

    public sealed record RefundRequested(DateTimeOffset At);

    public sealed record PaymentRefunded(Guid PaymentId, decimal Amount, DateTimeOffset At);

    /// <summary>Payment had captured nothing for the order: the refund asked for was not needed.</summary>
    public sealed record PaymentVoided(DateTimeOffset At);

    public sealed record StockReleaseRequested(DateTimeOffset At);

    public sealed record StockReleased(DateTimeOffset At);

    public static readonly IReadOnlyDictionary<string, Type> Types = typeof(OrderEvent).GetNestedTypes()
        .Where(t => t.IsSealed && t.Name != nameof(Types))
        .ToDictionary(t => t.Name);
}
