using System.Diagnostics.Metrics;
using Mercato.ServiceDefaults.Resilience;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Net.Http.Headers;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;
using System.ComponentModel.DataAnnotations;

namespace Mercato.Gateway;

/// <summary>The gateway's shared response cache (section "Gateway:ResponseCache").</summary>
public sealed class ResponseCacheOptions
{
    public bool Enabled { get; set; } = true;

    /// <summary>The longest a response is kept, whatever its service allows.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "365.00:00:00", ErrorMessage = "Gateway:ResponseCache:MaxAge must be from {1} to {2}.")]
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Memory for all entries together; the least recently used go first.</summary>
    [Range(1L, long.MaxValue, ErrorMessage = "Gateway:ResponseCache:SizeLimitBytes must be from {1} to {2}.")]
    public long SizeLimitBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Larger responses stream through uncached.</summary>
    [Range(1L, long.MaxValue, ErrorMessage = "Gateway:ResponseCache:MaxEntryBytes must be from {1} to {2}.")]
    public long MaxEntryBytes { get; set; } = 1024 * 1024;
}

/// <summary>
/// The gateway as a shared HTTP cache (RFC 9111), on ASP.NET Core output caching. A service opts a response in with
/// <c>Cache-Control: public, s-maxage=N</c> (or max-age): anonymous GET and HEAD requests for it are then answered from
/// the gateway's memory for N seconds (at most <see cref="ResponseCacheOptions.MaxAge"/>) without a call to the service,
/// with an <c>Age</c> header. A write through the gateway to the same service (any other method answered 2xx) drops that
/// service's entries at once.
/// <para>
/// Never cached: requests with an Authorization header, and a service under a version-routing rule (weights, canary) or a
/// chaos experiment from the control plane, which must see every request. A client's <c>Cache-Control: no-cache</c> goes
/// to the service and refreshes the entry; <c>no-store</c> passes the cache by.
/// </para>
/// </summary>
public sealed class SharedResponseCache : IOutputCachePolicy
{
    public const string PolicyName = "shared";
    public const string MeterName = "Mercato.Gateway";

    private readonly PolicyStore _policies;
    private readonly TimeSpan _maxAge;
    private readonly Counter<long> _requests;

    /// <summary>Successful writes through this gateway, per service: a read that saw the count change is not kept.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _writes = new(StringComparer.Ordinal);

    private static readonly object WritesSeenKey = new();

    public SharedResponseCache(PolicyStore policies, GatewayOptions options, IMeterFactory meters)
    {
        _policies = policies;
        _maxAge = options.ResponseCache.MaxAge;
        _requests = meters.Create(MeterName).CreateCounter<long>("gateway_response_cache_requests",
            description: "Anonymous GET and HEAD requests by what the shared cache did: hit (answered from the cache), miss (asked the service), bypass (the client asked for a fresh answer).");
    }

    public static void AddTo(IServiceCollection services, GatewayOptions options)
    {
        services.AddSingleton(sp => new SharedResponseCache(sp.GetRequiredService<PolicyStore>(), options, sp.GetRequiredService<IMeterFactory>()));
        services.AddOutputCache(cache =>
        {
            cache.SizeLimit = options.ResponseCache.SizeLimitBytes;
            cache.MaximumBodySize = options.ResponseCache.MaxEntryBytes;
        });
        services.AddOptions<OutputCacheOptions>().Configure<SharedResponseCache>((cache, policy) => cache.AddPolicy(PolicyName, policy));
    }

    public ValueTask CacheRequestAsync(OutputCacheContext context, CancellationToken cancellation)
    {
        var request = context.HttpContext.Request;
        if (ServiceOf(context.HttpContext) is not { } service
            || !(HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method))
            || request.Headers.Authorization.Count > 0
            || UnderExperiment(service))
        {
            context.EnableOutputCaching = false;
            return ValueTask.CompletedTask;
        }
        var noStore = HeaderUtilities.ContainsCacheDirective(request.Headers.CacheControl, CacheControlHeaderValue.NoStoreString);
        var noCache = HeaderUtilities.ContainsCacheDirective(request.Headers.CacheControl, CacheControlHeaderValue.NoCacheString)
            || HeaderUtilities.ContainsCacheDirective(request.Headers.Pragma, CacheControlHeaderValue.NoCacheString);
        context.EnableOutputCaching = true;
        context.AllowCacheLookup = !noStore && !noCache;
        context.AllowCacheStorage = !noStore;
        // Concurrent misses for one entry make one call to the service; the others wait for its answer.
        context.AllowLocking = true;
        // The query as sent: varying by query keys would sort each key's values, and ?ids=b&ids=a (answered in that
        // order) would be served the answer to ?ids=a&ids=b.
        context.CacheVaryByRules.VaryByValues["query"] = request.QueryString.Value ?? "";
        // Not by the Host header, which the client chooses and the services never see (the proxy sends their own):
        // varying by it, a client sending a new Host each time would miss every time and push real entries out.
        context.CacheVaryByRules.VaryByHost = false;
        context.Tags.Add(TagOf(service));
        context.HttpContext.Items[WritesSeenKey] = _writes.GetValueOrDefault(service);
        if (!context.AllowCacheLookup)
        {
            _requests.Add(1, new KeyValuePair<string, object?>("result", "bypass"));
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask ServeFromCacheAsync(OutputCacheContext context, CancellationToken cancellation)
    {
        _requests.Add(1, new KeyValuePair<string, object?>("result", "hit"));
        return ValueTask.CompletedTask;
    }

    public ValueTask ServeResponseAsync(OutputCacheContext context, CancellationToken cancellation)
    {
        // The lifetime is set only when a storable answer's headers arrived from the service (AddLifetimeTransform).
        // Without one (the gateway's own 502/503), or when the proxy then failed (a body cut off half-way), nothing is kept.
        if (context.ResponseExpirationTimeSpan is null || context.HttpContext.Features.Get<IForwarderErrorFeature>() is not null)
        {
            context.AllowCacheStorage = false;
        }
        // A write to the service went through while this read was on its way: the read may carry what the write changed,
        // and the write's eviction has already run, so storing it would serve the old answer for the whole lifetime.
        if (ServiceOf(context.HttpContext) is { } service && context.HttpContext.Items[WritesSeenKey] is long seen
            && seen != _writes.GetValueOrDefault(service))
        {
            context.AllowCacheStorage = false;
        }
        if (context.AllowCacheLookup)
        {
            _requests.Add(1, new KeyValuePair<string, object?>("result", "miss"));
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Output caching fixes an entry's lifetime when the first body byte is written, before its policies see the finished
    /// response; YARP's response transform runs between the service's headers and its body, the one moment to read them.
    /// </summary>
    public static void AddLifetimeTransform(TransformBuilderContext builder)
    {
        var cache = builder.Services.GetService<SharedResponseCache>();
        if (cache is null)
        {
            return;
        }
        builder.AddResponseTransform(transform =>
        {
            if (transform.HttpContext.Features.Get<IOutputCacheFeature>()?.Context is { AllowCacheStorage: true } entry)
            {
                if (cache.LifetimeOf(transform.HttpContext.Response) is { } lifetime)
                {
                    entry.ResponseExpirationTimeSpan = lifetime;
                }
                else
                {
                    entry.AllowCacheStorage = false;
                }
            }
            return ValueTask.CompletedTask;
        });
    }

    /// <summary>A successful write through the gateway drops what the cache holds of that service.</summary>
    public static async Task EvictAfterWriteAsync(HttpContext context, Func<Task> next)
    {
        await next();
        var method = context.Request.Method;
        if (HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method)
            || context.Response.StatusCode is < 200 or > 299
            || context.RequestServices.GetService<IOutputCacheStore>() is not { } store
            || ServiceOf(context) is not { } service)
        {
            return;
        }
        context.RequestServices.GetService<SharedResponseCache>()?._writes.AddOrUpdate(service, 1, (_, n) => n + 1);
        await store.EvictByTagAsync(TagOf(service), CancellationToken.None);
    }

    /// <summary>How long the service lets a shared cache keep this response; null when it may not be stored.</summary>
    public TimeSpan? LifetimeOf(HttpResponse response)
    {
        if (response.StatusCode != StatusCodes.Status200OK || response.Headers.SetCookie.Count > 0 || response.Headers.Vary.Count > 0
            || !CacheControlHeaderValue.TryParse(response.Headers.CacheControl.ToString(), out var directives)
            || directives is null || !directives.Public || directives.Private || directives.NoStore || directives.NoCache)
        {
            return null;
        }
        var allowed = directives.SharedMaxAge ?? directives.MaxAge;
        return allowed > TimeSpan.Zero ? (allowed < _maxAge ? allowed : _maxAge) : null;
    }

    private bool UnderExperiment(string service)
    {
        var policy = _policies.Get(service);
        return VersionRouter.HasRules(policy.Routing) || policy.Faults.AffectsRequests;
    }

    private static string? ServiceOf(HttpContext context) => context.GetEndpoint()?.Metadata.GetMetadata<RouteModel>()?.Config.ClusterId;

    private static string TagOf(string service) => $"service:{service}";
}
