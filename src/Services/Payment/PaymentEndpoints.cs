using Mercato.Payment.Data;
using Mercato.ServiceDefaults.Auth;
using Microsoft.EntityFrameworkCore;

namespace Mercato.Payment;

public sealed record PaymentResponse(Guid Id, Guid OrderId, decimal Amount, string Status, string? Reason, DateTimeOffset CreatedAt);

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
    }
}
