using Mercato.Catalog.Data;
using Microsoft.Extensions.Caching.Hybrid;

namespace Mercato.Catalog;

/// <summary>
/// The catalog's read cache (HybridCache, in this instance's memory) made safe against a read that overlaps a write.
/// HybridCache stores what a load returns even when the tag it carries was cleared while it loaded, so a read that
/// queried the database before a write committed, and finished after the write cleared the cache, put the replaced
/// product back for the whole expiry, and every order priced meanwhile paid the old price. Each answer is therefore
/// stored with the write generation counted before its query; a write advances the generation before it clears the
/// cache, and an answer of an older generation is read again.
/// A load queries through a database context of its own: HybridCache shares one load among every caller of a key and
/// lets it run on when the caller that started it gives up, so the request that started it may have ended, and its
/// context been disposed, while others still wait for the answer.
/// </summary>
public sealed class CatalogCache(HybridCache cache, IServiceScopeFactory scopes)
{
    private static readonly string[] Tags = ["products"];
    private long _generation;

    public async ValueTask<T> GetOrLoadAsync<T>(string key, Func<CatalogDb, CancellationToken, ValueTask<T>> load, CancellationToken ct)
    {
        var cached = await cache.GetOrCreateAsync(key, token => LoadAsync(load, token), tags: Tags, cancellationToken: ct);
        if (cached.Generation == Volatile.Read(ref _generation))
        {
            return cached.Value;
        }
        // Loaded before a write that has finished since (this call may have joined that load): it may be what the write
        // replaced. Stored with the generation read before the query, so a write overlapping this one is caught too.
        var fresh = await LoadAsync(load, ct);
        await cache.SetAsync(key, fresh, tags: Tags, cancellationToken: ct);
        return fresh.Value;
    }

    public ValueTask RemoveAsync(string key, CancellationToken ct) => cache.RemoveAsync(key, ct);

    /// <summary>After a write has committed: nothing loaded before it is answered again.</summary>
    public ValueTask InvalidateAsync(CancellationToken ct)
    {
        Interlocked.Increment(ref _generation);
        return cache.RemoveByTagAsync(Tags, ct);
    }

    private async ValueTask<Generational<T>> LoadAsync<T>(Func<CatalogDb, CancellationToken, ValueTask<T>> load, CancellationToken ct)
    {
        var generation = Volatile.Read(ref _generation);
        await using var scope = scopes.CreateAsyncScope();
        return new Generational<T>(generation, await load(scope.ServiceProvider.GetRequiredService<CatalogDb>(), ct));
    }
}

/// <summary>A cached answer and the write generation it was read in.</summary>
public sealed record Generational<T>(long Generation, T Value);
