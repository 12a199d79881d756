using System.Diagnostics;
using Mercato.ServiceDefaults.Data;
using Mercato.ServiceDefaults.Telemetry;
using System.Text.Json;
using Mercato.Ordering.Domain;
using Microsoft.EntityFrameworkCore;

namespace Mercato.Ordering.Data;

/// <summary>
/// A small event store on EF Core: events are appended to the stream with the next version numbers, and the order's
/// projection is updated inline in the same transaction. Nothing is saved here: the caller's unit of work (with its
/// outbox messages) commits it all. Optimistic concurrency: an append on top of a view this unit of work read fails
/// when the stream moved since the read (<see cref="DbUpdateConcurrencyException"/>), and a concurrent writer of the
/// same version fails on the unique (stream, version) index; both are retried, and the retry decides on the new state.
/// </summary>
public sealed class OrderEventStore(OrderingDb db, OrderMetrics? metrics = null)
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>The stream version each view read by this unit of work stood at: what its caller decided on.</summary>
    private readonly Dictionary<Guid, int> _readAt = [];

    /// <summary>The version of each stream's last event appended by this unit of work, saved or not.</summary>
    private readonly Dictionary<Guid, int> _appended = [];

    /// <summary>
    /// The order as its stream has it now: the stream is the truth and its view a projection that can lag behind it
    /// (lost, edited by hand), so a view that does not match the stream's version is replayed from the stream.
    /// </summary>
    public async Task<OrderView?> LoadViewAsync(Guid orderId, CancellationToken ct = default)
    {
        var (_, view, version) = await CurrentAsync(orderId, ct);
        _readAt[orderId] = version;
        return view;
    }

    /// <summary>The order's view document, its view as the stream has it, and the stream's version.</summary>
    private async Task<(OrderDocument? Document, OrderView? View, int Version)> CurrentAsync(Guid orderId, CancellationToken ct)
    {
        var document = await db.Orders.FindAsync([orderId], ct);
        var view = document is null ? null : JsonSerializer.Deserialize<OrderView>(document.Json, Json);
        // Events this unit of work appended and has not saved yet are part of the stream.
        var version = Math.Max(await db.Events.Where(e => e.StreamId == orderId).MaxAsync(e => (int?)e.Version, ct) ?? 0,
            _appended.GetValueOrDefault(orderId));
        if ((view?.Version ?? 0) != version)
        {
            view = await ReplayAsync(orderId, ct);
        }
        return (document, view, version);
    }

    /// <summary>The view as committed now, read afresh (not from this unit of work's tracked entities).</summary>
    public async Task<OrderView?> ReadCommittedViewAsync(Guid orderId, CancellationToken ct = default)
    {
        var json = await db.Orders.AsNoTracking().Where(o => o.Id == orderId).Select(o => o.Json).SingleOrDefaultAsync(ct);
        return json is null ? null : JsonSerializer.Deserialize<OrderView>(json, Json);
    }

    public async Task<OrderView> AppendAsync(Guid orderId, params object[] events)
    {
        var (document, view, version) = await CurrentAsync(orderId, CancellationToken.None);
        if (_readAt.TryGetValue(orderId, out var readAt) && readAt != version)
        {
            // The caller decided on the order as it stood at readAt; another writer has committed since (a deadline
            // against a reservation, two instances on PostgreSQL). Appending anyway could confirm a cancelled order.
            throw new DbUpdateConcurrencyException($"Order {orderId} moved from version {readAt} to {version} since it was read.");
        }
        foreach (var @event in events)
        {
            version++;
            db.Events.Add(new StoredEvent
            {
                StreamId = orderId,
                Version = version,
                Type = @event.GetType().Name,
                Data = JsonSerializer.Serialize(@event, @event.GetType(), Json),
                OccurredAt = DateTimeOffset.UtcNow,
            });
            view = OrderView.Apply(view, @event)!;
        }
        _readAt[orderId] = _appended[orderId] = version;
        var current = view!;
        Activity.Current?.SetTag(SpanTags.OrderId, orderId).SetTag(SpanTags.UserId, current.CustomerId);
        if (metrics is not null)
        {
            // Counted once the events are committed: a handler's SaveChanges runs inside Wolverine's transaction, which
            // can still roll back, and the retried message would count them again.
            var createdAt = current.CreatedAt;
            db.OnCommitted.Add(() => metrics.Appended(events, createdAt));
        }
        if (document is null)
        {
            db.Orders.Add(new OrderDocument
            {
                Id = orderId,
                CustomerId = current.CustomerId,
                CreatedAtTicks = current.CreatedAt.UtcTicks,
                Json = JsonSerializer.Serialize(current, Json),
            });
        }
        else
        {
            document.Json = JsonSerializer.Serialize(current, Json);
        }
        return current;
    }

    private async Task<OrderView?> ReplayAsync(Guid orderId, CancellationToken ct = default)
    {
        OrderView? view = null;
        foreach (var (_, @event) in await ReadStreamAsync(orderId, ct))
        {
            view = OrderView.Apply(view, @event);
        }
        return view;
    }

    public async Task<IReadOnlyList<(StoredEvent Stored, object Event)>> ReadStreamAsync(Guid orderId, CancellationToken ct = default)
    {
        var stored = await db.Events.AsNoTracking().Where(e => e.StreamId == orderId).OrderBy(e => e.Version).ToListAsync(ct);
        return [.. stored.Select(e => (e, Deserialize(e)))];
    }

    public static object Deserialize(StoredEvent stored) =>
        JsonSerializer.Deserialize(stored.Data, OrderEvent.Types[stored.Type], Json)!;

    /// <summary>Streams a rebuild replays per transaction.</summary>
    public const int RebuildBatchSize = 500;

    /// <summary>
    /// Replays every stream from its events into its view, <paramref name="batchSize"/> streams per transaction, then
    /// drops views left without events. Short transactions keep orders flowing during a rebuild: one transaction over
    /// the whole store held SQLite's only write lock (and PostgreSQL's view table) for as long as the replay took, so
    /// placing orders and handling messages stalled, and a call through the gateway ran out of time and rolled it all back.
    /// </summary>
    /// <returns>The number of streams replayed.</returns>
    public static async Task<int> RebuildProjectionsAsync(OrderingDb db, int batchSize = RebuildBatchSize, CancellationToken ct = default)
    {
        // Streams that start after this list is read get their views from their own appends.
        var streams = await db.Events.Select(e => e.StreamId).Distinct().ToListAsync(ct);
        foreach (var batch in streams.Chunk(batchSize))
        {
            await using var transaction = await db.Database.BeginTransactionAsync(ct);
            // An append writes a stream's events and its view in one transaction: on PostgreSQL, one committing between
            // the delete and the read below would leave its view in place for the insert to collide with.
            await db.HoldWritersOffAsync(ct, "OrderViews");
            await db.Orders.Where(o => batch.Contains(o.Id)).ExecuteDeleteAsync(ct);
            var views = new Dictionary<Guid, OrderView>();
            var events = db.Events.AsNoTracking().Where(e => batch.Contains(e.StreamId)).OrderBy(e => e.Sequence).AsAsyncEnumerable();
            await foreach (var stored in events.WithCancellation(ct))
            {
                views[stored.StreamId] = OrderView.Apply(views.GetValueOrDefault(stored.StreamId), Deserialize(stored))!;
            }
            db.Orders.AddRange(views.Values.Select(v => new OrderDocument
            {
                Id = v.Id,
                CustomerId = v.CustomerId,
                CreatedAtTicks = v.CreatedAt.UtcTicks,
                Json = JsonSerializer.Serialize(v, Json),
            }));
            await db.SaveChangesAsync(ct);
            await transaction.CommitAsync(ct);
            db.ChangeTracker.Clear();
        }
        // A view is written with its stream's first event, so one without events is left from something else.
        await db.Orders.Where(o => !db.Events.Any(e => e.StreamId == o.Id)).ExecuteDeleteAsync(ct);
        return streams.Count;
    }
}
