using System.Globalization;
using System.Security.Claims;
using System.Threading.RateLimiting;
using Mercato.ServiceDefaults.Auth;
using Mercato.ServiceDefaults.Resilience;
using Microsoft.AspNetCore.RateLimiting;

namespace Mercato.Gateway;

/// <summary>
/// Rate limits at the edge (ASP.NET Core rate limiting): a token bucket per signed-in user, and one per client IP for
/// anonymous calls, sized by the control plane's <c>gateway.rateLimit</c>; sign-ins and registrations also draw on a
/// much smaller bucket per client IP. A bucket is keyed by its limits too: a change of limits starts fresh buckets, so it
/// applies at once, while any other change of the policy (a chaos experiment, canary weights) leaves every bucket as it
/// is, not refilled. Refused calls get 429 with Retry-After and a problem document.
/// </summary>
public static class EdgeRateLimits
{
    public static IServiceCollection AddEdgeRateLimits(this IServiceCollection services) => services.AddRateLimiter(options =>
    {
        options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
        options.GlobalLimiter = PartitionedRateLimiter.CreateChained(
            PartitionedRateLimiter.Create<HttpContext, string>(context =>
            {
                var path = context.Request.Path;
                if (path.StartsWithSegments("/health") || path.StartsWithSegments("/metrics"))
                {
                    return RateLimitPartition.GetNoLimiter("infrastructure");
                }
                var limits = context.RequestServices.GetRequiredService<PolicyStore>().Current.Gateway.RateLimit;
                return context.User.FindFirstValue(MercatoAuth.SubjectClaim) is { } userId
                    ? Bucket($"user:{userId}", limits.UserPermitsPerSecond, TimeSpan.FromSeconds(1), limits.UserBurst)
                    : Bucket($"ip:{ClientKey(context.Connection.RemoteIpAddress)}", limits.AnonymousPermitsPerSecond, TimeSpan.FromSeconds(1), limits.AnonymousBurst);
            }),
            PartitionedRateLimiter.Create<HttpContext, string>(context =>
            {
                if (!IsCredentialCheck(context.Request))
                {
                    return RateLimitPartition.GetNoLimiter("no-password");
                }
                var limits = context.RequestServices.GetRequiredService<PolicyStore>().Current.Gateway.RateLimit;
                // One token at a time, spread over the minute, so the bucket never refills in one step.
                return Bucket($"credentials:{ClientKey(context.Connection.RemoteIpAddress)}", 1,
                    TimeSpan.FromMinutes(1) / limits.CredentialPermitsPerMinute, limits.CredentialBurst);
            }));
        options.OnRejected = async (rejected, ct) =>
        {
            var context = rejected.HttpContext;
            var wait = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : TimeSpan.FromSeconds(1);
            var seconds = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds));
            context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
            context.RequestServices.GetRequiredService<MeshTelemetry>().Rejected("gateway", "edge-rate-limit");
            await context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
            {
                HttpContext = context,
                ProblemDetails =
                {
                    Status = StatusCodes.Status429TooManyRequests,
                    Title = "Too many requests",
                    Detail = $"Rate limit reached; retry after {seconds} s.",
                },
            });
        };
    });

    /// <summary>
    /// The client a per-address bucket belongs to: an IPv4 address (also when written as IPv6), or an IPv6 address's /64
    /// network. A client on IPv6 holds a whole /64 and may send from any address in it, so keyed by the full address it
    /// would get a fresh bucket per address and no limit at all.
    /// </summary>
    public static string ClientKey(System.Net.IPAddress? address)
    {
        if (address is null)
        {
            return "unknown";
        }
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        if (address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
        {
            return address.ToString();
        }
        var bytes = address.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return $"{new System.Net.IPAddress(bytes)}/64";
    }

    /// <summary>The calls that make identity check or hash a password: sign-in and registration.</summary>
    private static bool IsCredentialCheck(HttpRequest request) =>
        HttpMethods.IsPost(request.Method)
        && request.Path.Value?.TrimEnd('/') is { } path
        && (path.Equals("/api/identity/token", StringComparison.OrdinalIgnoreCase)
            || path.Equals("/api/identity/users", StringComparison.OrdinalIgnoreCase));

    private static RateLimitPartition<string> Bucket(string key, int tokensPerPeriod, TimeSpan period, int burst) =>
        RateLimitPartition.GetTokenBucketLimiter($"{key}:{tokensPerPeriod}/{period.Ticks}:{burst}", _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = burst,
            TokensPerPeriod = tokensPerPeriod,
            ReplenishmentPeriod = period,
            QueueLimit = 0,
            AutoReplenishment = true,
        });
}
