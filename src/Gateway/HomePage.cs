using System.Net.Http.Headers;
using System.Text.Json;
using Mercato.ServiceDefaults.Http;
using Mercato.ServiceDefaults.Resilience;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using System.ComponentModel.DataAnnotations;

namespace Mercato.Gateway;

/// <summary>A product on the home page: from recommendations, trending sales or the catalog.</summary>
public sealed record HomeProduct(Guid ProductId, long? Score);

/// <summary>One part of the page: its data, or why it is missing.</summary>
public sealed record HomeSection(bool Available, JsonElement? Data, string? Error);

/// <summary>The home page: every part is present; a part that failed says so and is empty, it never fails the page.</summary>
public sealed record HomeResponse(
    HomeSection Profile,
    IReadOnlyList<HomeProduct> Recommendations,
    string RecommendationsSource,
    string? RecommendationsError,
    HomeSection RecentOrders,
    IReadOnlyList<string> Degraded);

public sealed class HomeOptions
{
    public const string SectionName = "Home";

    /// <summary>How long the page waits for any one part.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:05:00", ErrorMessage = "Home:PartTimeout must be from {1} to {2}.")]
    public TimeSpan PartTimeout { get; set; } = TimeSpan.FromSeconds(2);

    [Range(1, 50, ErrorMessage = "Home:Recommendations must be from {1} to {2}.")]
    public int Recommendations { get; set; } = 8;
}

/// <summary>
/// The spec's <c>get_user_homepage</c>, as a backend-for-frontend at the edge: profile, recommendations and recent
/// orders are fetched in parallel through the sidecar pipeline, each bounded by a timeout. Recommendations that fail,
/// time out or meet an open breaker are replaced by trending products (the last trending list analytics gave, or the
/// catalog's first page when analytics never answered), flagged as <c>trending-fallback</c>.
/// </summary>
public sealed class HomePage(HttpClient http, IMemoryCache cache, MeshTelemetry telemetry, IOptions<HomeOptions> options, ILogger<HomePage> logger)
{
    public const string TrendingFallback = "trending-fallback";
    private const string TrendingKey = "home:trending";
    private static readonly TimeSpan TrendingTtl = TimeSpan.FromMinutes(1);

    public async Task<HomeResponse> BuildAsync(HttpContext context, CancellationToken ct)
    {
        var token = context.Request.Headers.Authorization.ToString();
        var profile = PartAsync("profile", "http://identity/api/identity/users/me", token, ct);
        var recommendations = PartAsync("recommendations", $"http://analytics/api/analytics/recommendations?limit={options.Value.Recommendations}", token, ct);
        var orders = PartAsync("recentOrders", "http://ordering/api/orders", token, ct);
        await Task.WhenAll(profile, recommendations, orders);

        var degraded = new List<string>();
        var (recommended, source) = await RecommendationsOrTrendingAsync(recommendations.Result, token, ct);
        if (source == TrendingFallback)
        {
            degraded.Add("recommendations");
        }
        if (!profile.Result.Available)
        {
            degraded.Add("profile");
            telemetry.FallbackServed("profile", "empty");
        }
        var recent = orders.Result;
        if (recent is { Available: true, Data: { ValueKind: JsonValueKind.Array } recentList })
        {
            recent = recent with { Data = JsonSerializer.SerializeToElement(recentList.EnumerateArray().Take(5), JsonSerializerOptions.Web) };
        }
        else
        {
            recent = recent with { Available = false, Data = null, Error = recent.Error ?? "recentOrders: unexpected answer" };
            degraded.Add("recentOrders");
            telemetry.FallbackServed("recentOrders", "empty");
        }
        var recommendationsError = source == TrendingFallback ? recommendations.Result.Error ?? "unexpected answer" : null;
        return new HomeResponse(profile.Result, recommended, source, recommendationsError, recent, degraded);
    }

    private async Task<(IReadOnlyList<HomeProduct> Items, string Source)> RecommendationsOrTrendingAsync(
        HomeSection answer, string token, CancellationToken ct)
    {
        if (answer is { Available: true, Data: { } body } && TryReadScores(body, "items") is { } items)
        {
            if (!cache.TryGetValue(TrendingKey + ":fresh", out _))
            {
                // Analytics answers: keep its trending list fresh for the day it does not.
                var trending = await PartAsync("trending", "http://analytics/api/analytics/trending?limit=" + options.Value.Recommendations, token, ct);
                if (trending is { Available: true, Data: { } list } && TryReadScores(list, null) is { } fresh)
                {
                    cache.Set(TrendingKey, fresh, TrendingTtl * 10);
                    cache.Set(TrendingKey + ":fresh", true, TrendingTtl);
                }
            }
            return (items, body.TryGetProperty("source", out var source) && source.ValueKind == JsonValueKind.String ? source.GetString()! : "none");
        }

        telemetry.FallbackServed("recommendations", TrendingFallback);
        // An empty trending list (a shop with no orders yet) is no page to show: the catalog's first page is.
        if (cache.TryGetValue<IReadOnlyList<HomeProduct>>(TrendingKey, out var cached) && cached is { Count: > 0 })
        {
            return (cached, TrendingFallback);
        }
        var catalog = await PartAsync("catalog", $"http://catalog/api/catalog/products?pageSize={options.Value.Recommendations}", token, ct);
        IReadOnlyList<HomeProduct> firstPage = catalog is { Available: true, Data: { } page }
            ? TryRead("catalog", () => page.GetProperty("items").EnumerateArray().Select(p => new HomeProduct(p.GetProperty("id").GetGuid(), null))) ?? []
            : [];
        return (firstPage, TrendingFallback);
    }

    /// <summary>[{productId, score}] at <paramref name="property"/> (or the root), or null when the body is not that.</summary>
    private List<HomeProduct>? TryReadScores(JsonElement body, string? property) => TryRead("analytics", () =>
        (property is null ? body : body.GetProperty(property)).EnumerateArray()
            .Select(i => new HomeProduct(i.GetProperty("productId").GetGuid(), i.GetProperty("score").GetInt64())));

    /// <summary>The products a part's body lists, or null when the body is not what was expected (it costs that part only).</summary>
    private List<HomeProduct>? TryRead(string part, Func<IEnumerable<HomeProduct>> read)
    {
        try
        {
            return [.. read()];
        }
        catch (Exception ex) when (ex is InvalidOperationException or KeyNotFoundException or FormatException)
        {
            logger.LogWarning("{Part} answered an unexpected body: {Error}", part, ex.Message);
            return null;
        }
    }

    private async Task<HomeSection> PartAsync(string part, string url, string token, CancellationToken ct)
    {
        try
        {
            // The sidecar pipeline enforces the part's time limit, so a part too slow for it opens its target's breaker.
            using var request = new HttpRequestMessage(HttpMethod.Get, url).WithBudget(options.Value.PartTimeout);
            if (AuthenticationHeaderValue.TryParse(token, out var bearer))
            {
                request.Headers.Authorization = bearer;
            }
            using var response = await http.SendAsync(request, ct);
            if (!response.IsSuccessStatusCode)
            {
                return new HomeSection(false, null, $"{part} answered {(int)response.StatusCode}");
            }
            return new HomeSection(true, await response.Content.ReadFromJsonAsync<JsonElement>(ct), null);
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            // Whatever went wrong with one part (unreachable, no instance to resolve, open breaker, timeout, a body that
            // is not what was expected), it costs that part only.
            // The reason shown to the caller is a fixed phrase: an exception's own message can name internal addresses,
            // ports and parser internals. The log keeps the whole exception.
            var reason = ex switch
            {
                Polly.CircuitBreaker.BrokenCircuitException => "circuit open",
                OperationCanceledException or Polly.Timeout.TimeoutRejectedException => $"no answer within {options.Value.PartTimeout.TotalMilliseconds} ms",
                Polly.RateLimiting.RateLimiterRejectedException => "rejected by its bulkhead or rate limit",
                HttpRequestException => "unreachable",
                _ when Downstream.Unreadable(ex) => "unreadable answer",
                InvalidOperationException => "no instance to call",
                _ => "unavailable",
            };
            logger.LogWarning(ex, "Home page part {Part} unavailable: {Reason}", part, reason);
            return new HomeSection(false, null, $"{part}: {reason}");
        }
    }
}
