using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace Mercato.ServiceDefaults.Discovery;

/// <summary>
/// The client side of discovery (the spec's ServiceDiscoveryClient): a local cache of each service's healthy instances,
/// trusted for <see cref="RegistryOptions.CacheTtl"/>, refreshed early when a caller could not connect, and kept as the
/// last known good answer while the registry cannot be reached.
/// </summary>
public sealed class ServiceInstanceCache(
    RegistryClient registry,
    IOptions<RegistryOptions> options,
    TimeProvider time,
    ILogger<ServiceInstanceCache> logger)
{
    // After a failed refresh, or an answer with no instance, the registry is asked again this much later.
    private static readonly TimeSpan ShortRetry = TimeSpan.FromSeconds(2);

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _invalidations = new(StringComparer.OrdinalIgnoreCase);

    private sealed record Entry(IReadOnlyList<ServiceInstance> Instances, DateTimeOffset ExpiresAt);

    public async ValueTask<IReadOnlyList<ServiceInstance>> GetInstancesAsync(string serviceName, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        if (_entries.TryGetValue(serviceName, out var cached) && cached.ExpiresAt > now)
        {
            return cached.Instances;
        }

        try
        {
            var lookup = await registry.LookupAsync(serviceName, ct);
            var fresh = lookup.Instances;
            if (lookup.Warming && cached is not null)
            {
                // A registry that just restarted: instances not listed yet are kept until it has heard from them.
                fresh = RegistryWarming.Merge(fresh, cached.Instances);
                _entries[serviceName] = new Entry(fresh, now + ShortRetry);
                return fresh;
            }
            _entries[serviceName] = new Entry(fresh, now + (fresh.Count == 0 ? ShortRetry : options.Value.CacheTtl));
            return fresh;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            if (cached is null)
            {
                throw;
            }
            logger.LogWarning("Registry unreachable ({Error}); keeping {Count} last known instance(s) of {Service}",
                ex.Message, cached.Instances.Count, serviceName);
            _entries[serviceName] = cached with { ExpiresAt = now + ShortRetry };
            return cached.Instances;
        }
    }

    /// <summary>
    /// Mark what is cached for a service stale, e.g. because one of its instances refused a connection. The instances
    /// stay as the fallback in case the registry cannot be reached either.
    /// </summary>
    public void Invalidate(string serviceName)
    {
        if (_entries.TryGetValue(serviceName, out var entry))
        {
            _entries.TryUpdate(serviceName, entry with { ExpiresAt = DateTimeOffset.MinValue }, entry);
        }
        // Cancelled, not disposed: a concurrent GetChangeToken may still read the token of the one it just got, and a
        // source without a timer holds nothing the collector will not take.
        if (_invalidations.TryRemove(serviceName, out var cts))
        {
            cts.Cancel();
        }
    }

    /// <summary>A token that fires when the cached view of <paramref name="serviceName"/> expires or is invalidated.</summary>
    public IChangeToken GetChangeToken(string serviceName)
    {
        var cts = _invalidations.GetOrAdd(serviceName, _ => new CancellationTokenSource());
        var lifetime = _entries.TryGetValue(serviceName, out var entry) ? entry.ExpiresAt - time.GetUtcNow() : ShortRetry;
        var expiry = new CancellationTokenSource(lifetime > TimeSpan.Zero ? lifetime : ShortRetry, time);
        return new CompositeChangeToken([new CancellationChangeToken(cts.Token), new CancellationChangeToken(expiry.Token)]);
    }
}
