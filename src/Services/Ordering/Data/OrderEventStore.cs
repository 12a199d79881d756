using System.Diagnostics;
using Mercato.ServiceDefaults.Telemetry;
using System.Text.Json;
using Mercato.Ordering.Domain;
using Microsoft.EntityFrameworkCore;

namespace Mercato.Ordering.Data;

/// <summary>
/// A small event store on EF Core: events are appended to the stream with the next version numbers (a concurrent writer
/// of the same version fails on the unique index and is retried), and the order's projection is updated inline in the
/// same transaction. Nothing is saved here: the caller's unit of work (with its outbox messages) commits it all.
/// </summary>
public sealed class OrderEventStore(OrderingDb db, OrderMetrics? metrics = null)
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public async Task<OrderView?> LoadViewAsync(Guid orderId, CancellationToken ct = default)
    {
        var document = await db.Orders.FindAsync([orderId], ct);
        return document is null ? null : JsonSerializer.Deserialize<OrderView>(document.Json, Json);
    }

    /// <summary>The view as committed now, read afresh (not from this unit of work's tracked entities).</summary>
    public async Task<OrderView?> ReadCommittedViewAsync(Guid orderId, CancellationToken ct = default)
    {
        var json = await db.Orders.AsNoTracking().Where(o => o.Id == orderId).Select(o => o.Json).SingleOrDefaultAsync(ct);
        return json is null ? null : JsonSerializer.Deserialize<OrderView>(json, Json);
    }

    public async Task<OrderView> AppendAsync(Guid orderId, params object[] events)
    {
        var document = await db.Orders.FindAsync(orderId);
        var view = document is null ? null : JsonSerializer.Deserialize<OrderView>(document.Json, Json);
        var version = view?.Version ?? 0;
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
        var current = view!;
        Activity.Current?.SetTag(SpanTags.OrderId, orderId).SetTag(SpanTags.UserId, current.CustomerId);
        if (metrics is not null)
        {
            // Counted once the events are committed, not when a handler that is later retried appended them.
            var createdAt = current.CreatedAt;
            void OnSaved(object? sender, SavedChangesEventArgs args)
            {
                db.SavedChanges -= OnSaved;
                metrics.Appended(events, createdAt);
            }
            db.SavedChanges += OnSaved;
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

    public async Task<IReadOnlyList<(StoredEvent Stored, object Event)>> ReadStreamAsync(Guid orderId, CancellationToken ct = default)
    {
        var stored = await db.Events.AsNoTracking().Where(e => e.StreamId == orderId).OrderBy(e => e.Version).ToListAsync(ct);
        return [.. stored.Select(e => (e, Deserialize(e)))];
    }

    public static object Deserialize(StoredEvent stored) =>
        JsonSerializer.Deserialize(stored.Data, OrderEvent.Types[stored.Type], Json)!;

    /// <summary>Drops every projection and replays every stream from the events.</summary>
    public static async Task<int> RebuildProjectionsAsync(OrderingDb db, CancellationToken ct = default)
    {
        await using var transaction = await db.Database.BeginTransactionAsync(ct);
        await db.Orders.ExecuteDeleteAsync(ct);
        var views = new Dictionary<Guid, OrderView>();
        await foreach (var stored in db.Events.AsNoTracking().OrderBy(e => e.Sequence).AsAsyncEnumerable().WithCancellation(ct))
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
        return views.Count;
    }
}
