using System.Net.Http.Json;
using Mercato.ServiceDefaults.Http;
using Mercato.ServiceDefaults.Resilience;

namespace Mercato.Ordering;

public sealed record PaymentMethodCheck(string Method, bool Accepted, string? Reason);

/// <summary>
/// The spec's PaymentServiceClient: ordering asks payment (http://payment, through the sidecar pipeline and its
/// circuit breaker) whether a payment method is known before accepting an order. When payment cannot answer (errors,
/// timeout, breaker open) the fallback is the spec's "queue payment for later": the order is accepted and the saga's
/// payment step, carried by messages, decides when payment is back.
/// </summary>
public sealed class PaymentClient(HttpClient http, MeshTelemetry telemetry, ILogger<PaymentClient> logger)
{
    public static readonly TimeSpan Budget = TimeSpan.FromSeconds(2);

    /// <returns>The check, or null when payment could not answer and the check is deferred to the saga.</returns>
    public async Task<PaymentMethodCheck?> CheckMethodAsync(string method, CancellationToken requestAborted)
    {
        try
        {
            // The sidecar pipeline enforces the budget, so a payment too slow for it opens payment's breaker.
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/payments/methods/{Uri.EscapeDataString(method)}").WithBudget(Budget);
            using var response = await http.SendAsync(request, requestAborted);
            response.EnsureSuccessStatusCode();
            return await response.Content.ReadFromJsonAsync<PaymentMethodCheck>(requestAborted);
        }
        catch (Exception ex) when (Downstream.IsUnavailable(ex, requestAborted) || ex is System.Text.Json.JsonException)
        {
            logger.LogWarning("Payment could not check method {Method} ({Error}); the saga's payment step will decide", method, ex.Message);
            telemetry.FallbackServed("payment-method-check", "deferred-to-saga");
            return null;
        }
    }
}
