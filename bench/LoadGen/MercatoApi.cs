using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Mercato.LoadGen;

// The few shapes of Mercato's public API the load generator reads (README, "Public API"). Kept here on purpose: the
// load generator must not reference any project under src/.
public sealed record ProductDto(Guid Id, string Name, string? Description, decimal Price);

public sealed record ProductPageDto(List<ProductDto> Items, int Total, int Page, int PageSize);

public sealed record TokenDto([property: JsonPropertyName("access_token")] string AccessToken);

public sealed record OrderAcceptedDto(Guid OrderId, string Status);

public sealed record OrderLineDto(Guid ProductId, int Quantity, decimal UnitPrice);

public sealed record SagaStepDto(string Name, string Status, DateTimeOffset At);

public sealed record OrderViewDto(
    Guid Id, Guid CustomerId, string Status, List<OrderLineDto> Items, decimal Total, string? CancellationReason,
    DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, List<SagaStepDto>? Steps = null)
{
    /// <summary>
    /// When the order became Confirmed or Cancelled. <see cref="UpdatedAt"/> moves on with the compensations that follow a
    /// cancellation (refund, release), so it is only the fallback for a system whose view has no steps.
    /// </summary>
    public DateTimeOffset EndedAt =>
        Steps?.LastOrDefault(s => s.Name is "confirmation" or "cancellation")?.At ?? UpdatedAt;
}

public sealed record StockDto(Guid ProductId, int OnHand, int Reserved, int Available);

public sealed record PaymentDto(Guid Id, Guid OrderId, decimal Amount, string Status, string? Reason);

public sealed record OrderItemDto(Guid ProductId, int Quantity);

public sealed record PlaceOrderDto(List<OrderItemDto> Items, string PaymentMethod);

/// <summary>One call's outcome: the status and value, or the kind of error ("http 503", "timeout", "transport ...").</summary>
public readonly record struct ApiResult<T>(int Status, T? Value, string? Error, long End, bool WaitApplied = false)
{
    public bool Ok => Error is null;
}

/// <summary>The gateway, over one pooled <see cref="SocketsHttpHandler"/> with a bounded number of connections.</summary>
public sealed class MercatoApi : IDisposable
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly HttpClient _http;
    private readonly TimeSpan _timeout;

    public MercatoApi(Uri gateway, int connections, TimeSpan timeout, bool bypassCache = false)
    {
        _timeout = timeout;
        var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = connections,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2),
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            UseProxy = false,
            ConnectTimeout = TimeSpan.FromSeconds(10),
        };
        _http = new HttpClient(handler) { BaseAddress = gateway, Timeout = Timeout.InfiniteTimeSpan };
        if (bypassCache)
        {
            _http.DefaultRequestHeaders.CacheControl = new CacheControlHeaderValue { NoStore = true };
        }
    }

    public Uri Gateway => _http.BaseAddress!;

    public Task<ApiResult<T>> GetAsync<T>(string path, string? token, CancellationToken ct) =>
        SendAsync<T>(HttpMethod.Get, path, token, null, null, ct);

    /// <summary>
    /// The signed-in user's orders (<c>GET /api/orders</c>), newest first, a page of 100 at a time until the last; a
    /// page that cannot be read is yielded with its error and ends the listing. Callers stop early by leaving the loop.
    /// </summary>
    public async IAsyncEnumerable<ApiResult<List<OrderViewDto>>> OrderPagesAsync(string token,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        const int PageSize = 100;
        for (var page = 1; ; page++)
        {
            var read = await GetAsync<List<OrderViewDto>>($"/api/orders?page={page}&pageSize={PageSize}", token, ct);
            yield return read;
            if (read is not { Ok: true, Value.Count: PageSize })
            {
                yield break;
            }
        }
    }

    /// <summary>
    /// A GET with <c>Prefer: wait=N</c> (RFC 7240): a server that honours it holds the read until the resource settles
    /// or N seconds pass, and says so in <c>Preference-Applied</c> (<see cref="ApiResult{T}.WaitApplied"/>).
    /// </summary>
    public Task<ApiResult<T>> GetWaitingAsync<T>(string path, string? token, int waitSeconds, CancellationToken ct) =>
        SendAsync<T>(HttpMethod.Get, path, token, null, null, ct, prefer: $"wait={waitSeconds}");

    /// <summary>A GET whose body is read to the end and thrown away (browse traffic).</summary>
    public Task<ApiResult<bool>> GetDiscardAsync(string path, string? token, CancellationToken ct) =>
        SendAsync<bool>(HttpMethod.Get, path, token, null, null, ct, discardBody: true);

    public Task<ApiResult<T>> PostAsync<T>(string path, string? token, object body, string? idempotencyKey, CancellationToken ct) =>
        SendAsync<T>(HttpMethod.Post, path, token, body, idempotencyKey, ct);

    public Task<ApiResult<T>> PutAsync<T>(string path, string? token, object body, CancellationToken ct) =>
        SendAsync<T>(HttpMethod.Put, path, token, body, null, ct);

    public async Task<ApiResult<T>> SendAsync<T>(
        HttpMethod method, string path, string? token, object? body, string? idempotencyKey, CancellationToken ct, bool discardBody = false,
        string? prefer = null)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_timeout);
        using var request = new HttpRequestMessage(method, path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }
        if (prefer is not null)
        {
            request.Headers.Add("Prefer", prefer);
        }
        if (body is not null)
        {
            // Serialized up front so the request carries Content-Length rather than a chunked body.
            request.Content = new ByteArrayContent(body is JsonNode node
                ? System.Text.Encoding.UTF8.GetBytes(node.ToJsonString())
                : JsonSerializer.SerializeToUtf8Bytes(body, body.GetType(), Json));
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        }
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var status = (int)response.StatusCode;
            if (!response.IsSuccessStatusCode)
            {
                await response.Content.CopyToAsync(Stream.Null, timeout.Token);
                return new(status, default, $"http {status}", Clock.Now);
            }
            if (discardBody || typeof(T) == typeof(bool))
            {
                await response.Content.CopyToAsync(Stream.Null, timeout.Token);
                return new(status, default, null, Clock.Now);
            }
            var value = await response.Content.ReadFromJsonAsync<T>(Json, timeout.Token);
            return new(status, value, null, Clock.Now, response.Headers.Contains("Preference-Applied"));
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new(0, default, "timeout", Clock.Now);
        }
        catch (HttpRequestException ex)
        {
            var kind = ex.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused }
                ? "connection refused"
                : "transport " + ex.HttpRequestError.ToString().ToLowerInvariant();
            return new(0, default, kind, Clock.Now);
        }
        catch (JsonException)
        {
            return new(0, default, "bad json", Clock.Now);
        }
        catch (IOException)
        {
            return new(0, default, "transport io", Clock.Now);
        }
    }

    public void Dispose() => _http.Dispose();
}
