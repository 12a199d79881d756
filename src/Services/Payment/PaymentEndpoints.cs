using Mercato.Payment.Data;
using Mercato.ServiceDefaults.Auth;
using Mercato.ServiceDefaults.Http;
using Microsoft.EntityFrameworkCore;

namespace Mercato.Payment;

public sealed record PaymentResponse(Guid Id, Guid OrderId, decimal Amount, string Status, string? Reason, DateTimeOffset CreatedAt);

/// <summary>Whether the provider knows a payment method; a known one may still be declined at capture.</summary>
public sealed record PaymentMethodCheck(string Method, bool Accepted, string? Reason);

public static class PaymentEndpoints
{
    public const int MaxPageSize = 500;

    public static void MapPaymentEndpoints(this WebApplication app)
    {
        // Newest first, a page at a time, with the count of all that match: the first 500 ever made never showed a recent one.
        app.MapGet("/api/payments", async (Guid? orderId, int? page, int? pageSize, PaymentDb db, HttpResponse response, CancellationToken ct) =>
        {
            if (Paging.Problems(page, pageSize, MaxPageSize) is { Count: > 0 } errors)
            {
                return Results.ValidationProblem(errors);
            }
            var query = db.Payments.AsNoTracking();
            if (orderId is { } id)
            {
                query = query.Where(p => p.OrderId == id);
            }
            response.Headers[Paging.TotalCountHeader] = (await query.CountAsync(ct)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            int size = pageSize ?? MaxPageSize, skip = ((page ?? 1) - 1) * size;
            // Version 7 ids: newest first by id, on SQLite (which cannot order by DateTimeOffset) as on PostgreSQL.
            var payments = await query.OrderByDescending(p => p.Id).Skip(skip).Take(size).ToListAsync(ct);
            return Results.Ok(payments.Select(p => new PaymentResponse(p.Id, p.OrderId, p.Amount, p.Status.ToString(), p.Reason, p.CreatedAt)));
        }).RequireAuthorization(MercatoAuth.AdminPolicy).WithTags("Payment").Produces<List<PaymentResponse>>().ProducesValidationProblem();

        // Asked by ordering before it accepts an order, through its sidecar pipeline (breaker, fallback).
        app.MapGet("/api/payments/methods/{method}", CheckMethod).AllowAnonymous().WithTags("Payment");
        // HEAD too: the gateway lets anonymous callers send it, and minimal APIs do not answer it for a GET. Not in the
        // document, where it would be described with the GET's body.
        app.MapMethods("/api/payments/methods/{method}", [HttpMethods.Head], CheckMethod).AllowAnonymous().ExcludeFromDescription();
    }

    private static PaymentMethodCheck CheckMethod(string method) =>
        SimulatedPaymentProvider.UnknownMethodReason(method) is { } reason
            ? new PaymentMethodCheck(method, false, reason)
            : new PaymentMethodCheck(method, true, null);
}
