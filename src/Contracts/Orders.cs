namespace Mercato.Contracts;

// Message contracts shared between services: records only, no logic. A breaking change gets a new name (…V2).

public sealed record OrderLine(Guid ProductId, int Quantity, decimal UnitPrice);

/// <summary>Ordering asks Payment to charge an order.</summary>
public sealed record CapturePayment(Guid OrderId, Guid CustomerId, decimal Amount, string PaymentMethod);

public sealed record PaymentCaptured(Guid OrderId, Guid PaymentId, decimal Amount);

public sealed record PaymentDeclined(Guid OrderId, string Reason);

/// <summary>Compensation: give the money back (or, if it never arrived, refuse it when it does).</summary>
public sealed record RefundPayment(Guid OrderId, string Reason);

public sealed record PaymentRefunded(Guid OrderId, Guid PaymentId, decimal Amount);

/// <summary>
/// Payment's answer to a refund when nothing was captured (none taken yet, or declined): nothing to give back, and no
/// capture will follow; the compensation is done.
/// </summary>
public sealed record PaymentVoided(Guid OrderId);

/// <summary>Ordering asks Inventory to hold stock for an order: all lines or none.</summary>
public sealed record ReserveStock(Guid OrderId, IReadOnlyList<OrderLine> Lines);

public sealed record StockReserved(Guid OrderId);

public sealed record StockReservationFailed(Guid OrderId, string Reason);

/// <summary>Compensation: let go of what was held for an order.</summary>
public sealed record ReleaseStock(Guid OrderId);

/// <summary>Inventory let go of what it held for a cancelled order (or held nothing): the compensation is done.</summary>
public sealed record StockReleased(Guid OrderId);

/// <summary>The order is confirmed: held units leave the stock for good.</summary>
public sealed record CommitStock(Guid OrderId);

/// <summary>Integration events other services react to (notification, analytics).</summary>
public sealed record OrderConfirmed(Guid OrderId, Guid CustomerId, decimal Total, IReadOnlyList<OrderLine> Lines, DateTimeOffset ConfirmedAt);

public sealed record OrderCancelled(Guid OrderId, Guid CustomerId, string Reason, DateTimeOffset CancelledAt);

/// <summary>Choreography: an order was placed. Payment charges it, Inventory remembers its lines for the reservation.</summary>
public sealed record OrderSubmitted(Guid OrderId, Guid CustomerId, IReadOnlyList<OrderLine> Lines, decimal Total, string PaymentMethod, DateTimeOffset SubmittedAt);
