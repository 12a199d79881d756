using Mercato.Payment.Data;
using Mercato.ServiceDefaults.Auth;
using Microsoft.EntityFrameworkCore;

namespace Mercato.Payment;

public sealed record PaymentResponse(Guid Id, Guid OrderId, decimal Amount, string Status, string? Reason, DateTimeOffset CreatedAt);

/// <summary>Whether the provider knows a payment method; a known one may still be declined at capture.</summary>
public sealed record PaymentMethodCheck(string Method, bool Accepted, string? Reason);

public static class PaymentEndpoints
{
    public static void MapPaymentEndpoints(this WebApplication app)
    {
        app.MapGet("/api/payments", async (Guid? orderId, PaymentDb db, CancellationToken ct) =>
        {
            var query = db.Payments.AsNoTracking();
            if (orderId is { } id)
            {
                query = query.Where(p => p.OrderId == id);
            }
            var payments = await query.OrderBy(p => p.Id).Take(500).ToListAsync(ct);
            return payments.Select(p => new PaymentResponse(p.Id, p.OrderId, p.Amount, p.Status.ToString(), p.Reason, p.CreatedAt));
        }).RequireAuthorization(MercatoAuth.AdminPolicy).WithTags("Payment");

        // Asked by ordering before it accepts an order, through its sidecar pipeline (breaker, fallback).
        app.MapGet("/api/payments/methods/{method}", (string method) =>
            SimulatedPaymentProvider.UnknownMethodReason(method) is { } reason
                ? new PaymentMethodCheck(method, false, reason)
                : new PaymentMethodCheck(method, true, null))
            .AllowAnonymous().WithTags("Payment");
    }
}
