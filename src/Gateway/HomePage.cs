using System.Net.Http.Headers;
using System.Text.Json;
using Mercato.ServiceDefaults.Resilience;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace Mercato.Gateway;

/// <summary>A product on the home page: from recommendations, trending sales or the catalog.</summary>
public sealed record HomeProduct(Guid ProductId, long? Score);

public sealed record HomeSection<T>(bool Available, T? Data, string? Error);

/// <summary>The home page: every part is present; a part that failed says so and is empty, it never fails the page.</summary>
public sealed record HomeResponse(
    HomeSection<JsonElement> Profile,
    IReadOnlyList<HomeProduct> Recommendations,
    string RecommendationsSource,
    HomeSection<JsonElement> RecentOrders,
    IReadOnlyList<string> Degraded);

public sealed class HomeOptions
{
    public const string SectionName = "Home";

    /// <summary>How long the page waits for any one part.</summary>
    public TimeSpan PartTimeout { get; set; } = TimeSpan.FromSeconds(2);

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
        if (recent.Available)
        {
            recent = recent with { Data = JsonSerializer.SerializeToElement(recent.Data.EnumerateArray().Take(5), JsonSerializerOptions.Web) };
        }
        else
        {
            degraded.Add("recentOrders");
            telemetry.FallbackServed("recentOrders", "empty");
        }
        return new HomeResponse(profile.Result, recommended, source, recent, degraded);
    }

    private async Task<(IReadOnlyList<HomeProduct> Items, string Source)> RecommendationsOrTrendingAsync(
        HomeSection<JsonElement> answer, string token, CancellationToken ct)
    {
        if (answer.Available)
        {
            var items = ReadScores(answer.Data.GetProperty("items"));
            if (!cache.TryGetValue(TrendingKey + ":fresh", out _))
            {
                // Analytics answers: keep its trending list fresh for the day it does not.
                var trending = await PartAsync("trending", "http://analytics/api/analytics/trending?limit=" + options.Value.Recommendations, token, ct);
                if (trending.Available)
                {
                    cache.Set(TrendingKey, ReadScores(trending.Data), TrendingTtl * 10);
                    cache.Set(TrendingKey + ":fresh", true, TrendingTtl);
                }
            }
            return (items, answer.Data.GetProperty("source").GetString() ?? "none");
        }

        telemetry.FallbackServed("recommendations", TrendingFallback);
        if (cache.TryGetValue<IReadOnlyList<HomeProduct>>(TrendingKey, out var cached) && cached is not null)
        {
            return (cached, TrendingFallback);
        }
        var catalog = await PartAsync("catalog", $"http://catalog/api/catalog/products?pageSize={options.Value.Recommendations}", token, ct);
        IReadOnlyList<HomeProduct> firstPage = catalog.Available
            ? [.. catalog.Data.GetProperty("items").EnumerateArray().Select(p => new HomeProduct(p.GetProperty("id").GetGuid(), null))]
            : [];
        return (firstPage, TrendingFallback);
    }

    private static List<HomeProduct> ReadScores(JsonElement items) =>
        [.. items.EnumerateArray().Select(i => new HomeProduct(i.GetProperty("productId").GetGuid(), i.GetProperty("score").GetInt64()))];

    private async Task<HomeSection<JsonElement>> PartAsync(string part, string url, string token, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(options.Value.PartTimeout);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            if (AuthenticationHeaderValue.TryParse(token, out var bearer))
            {
                request.Headers.Authorization = bearer;
            }
            using var response = await http.SendAsync(request, timeout.Token);
            if (!response.IsSuccessStatusCode)
            {
                return new HomeSection<JsonElement>(false, default, $"{part} answered {(int)response.StatusCode}");
            }
            return new HomeSection<JsonElement>(true, await response.Content.ReadFromJsonAsync<JsonElement>(timeout.Token), null);
        }
        catch (Exception ex) when (!ct.IsCancellationRequested && ex is HttpRequestException or OperationCanceledException or Polly.ExecutionRejectedException or JsonException)
        {
            var reason = ex switch
            {
                Polly.CircuitBreaker.BrokenCircuitException => "circuit open",
                OperationCanceledException or Polly.Timeout.TimeoutRejectedException => $"no answer within {options.Value.PartTimeout.TotalMilliseconds} ms",
                _ => ex.Message,
            };
            logger.LogWarning("Home page part {Part} unavailable: {Reason}", part, reason);
            return new HomeSection<JsonElement>(false, default, $"{part}: {reason}");
        }
    }
}
