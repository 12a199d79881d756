using System.Net.Http.Headers;
using System.Net.Http.Json;
using Mercato.ServiceDefaults.Http;

namespace Mercato.Basket;

/// <summary>
/// Places the order with Ordering (http://ordering via discovery), on behalf of the caller: their token travels along,
/// and the checkout's idempotency key becomes the order's, so a retried checkout never orders twice.
/// </summary>
public sealed class OrderingClient(HttpClient http)
{
    public async Task<HttpResponseMessage> PlaceOrderAsync(string bearerToken, string idempotencyKey, object order, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/orders") { Content = JsonContent.Create(order) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearerToken);
        request.Headers.Add(IdempotencyKeyHeader.Name, idempotencyKey);
        return await http.SendAsync(request, ct);
    }
}
