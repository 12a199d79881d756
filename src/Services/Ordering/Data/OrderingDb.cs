using Mercato.ServiceDefaults.Http;
using Microsoft.EntityFrameworkCore;

namespace Mercato.Ordering.Data;

public sealed class OrderingDb(DbContextOptions<OrderingDb> options) : DbContext(options)
{
    /// <summary>The event store: append-only, one row per event.</summary>
    public DbSet<StoredEvent> Events => Set<StoredEvent>();

    /// <summary>Projection: one JSON document per order (order detail and a customer's order list read it).</summary>
    public DbSet<OrderDocument> Orders => Set<OrderDocument>();

    public DbSet<IdempotencyKey> IdempotencyKeys => Set<IdempotencyKey>();

    public DbSet<OrderSaga> Sagas => Set<OrderSaga>();

    /// <summary>Orders whose view this unit of work changed and that are not committed yet (<see cref="OrderChangeNotifier"/>).</summary>
    internal HashSet<Guid> UncommittedOrderChanges { get; } = [];

    /// <summary>What to do once this unit of work is committed, and to forget if it is not (<see cref="OrderChangeNotifier"/>).</summary>
    internal List<Action> OnCommitted { get; } = [];

    /// <summary>
    /// Whether a commit of this context's transaction has begun: a failure after that may have committed (its answer
    /// lost), one before it certainly did not.
    /// </summary>
    public bool CommitStarted { get; internal set; }

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<StoredEvent>(e =>
        {
            e.ToTable("OrderEvents");
            e.HasKey(x => x.Sequence);
            // Optimistic concurrency on the stream: two writers of version N of one order cannot both commit.
            e.HasIndex(x => new { x.StreamId, x.Version }).IsUnique();
            e.Property(x => x.Type).HasMaxLength(IdempotencyKeyHeader.RequestHashLength);
        });
        modelBuilder.Entity<OrderDocument>(o =>
        {
            o.ToTable("OrderViews");
            o.HasIndex(x => new { x.CustomerId, x.CreatedAtTicks });
        });
        modelBuilder.Entity<IdempotencyKey>(k =>
        {
            k.HasKey(x => new { x.CustomerId, x.Key });
            k.Property(x => x.Key).HasMaxLength(IdempotencyKeyHeader.MaxLength);
            k.Property(x => x.RequestHash).HasMaxLength(64);
        });
        modelBuilder.Entity<OrderSaga>(s =>
        {
            s.ToTable("OrderSagas");
            s.Property(x => x.Stage).HasConversion<string>().HasMaxLength(32);
            // Wolverine increments Version whenever a handler changes the saga; as a concurrency token it makes an update
            // or delete from a stale copy fail (SagaConcurrencyException, retried) instead of overwriting a newer state.
            s.Property(x => x.Version).IsConcurrencyToken();
        });
    }
}

public sealed class StoredEvent
{
    public long Sequence { get; set; }

    public Guid StreamId { get; set; }

    public int Version { get; set; }

    public required string Type { get; set; }

    public required string Data { get; set; }

    public DateTimeOffset OccurredAt { get; set; }
}

public sealed class OrderDocument
{
    public Guid Id { get; set; }

    public Guid CustomerId { get; set; }

    /// <summary>UTC ticks of creation, for ordering (SQLite cannot order by DateTimeOffset).</summary>
    public long CreatedAtTicks { get; set; }

    public required string Json { get; set; }
}

public sealed class IdempotencyKey
{
    public Guid CustomerId { get; set; }

    public required string Key { get; set; }

    public Guid OrderId { get; set; }

    /// <summary>SHA-256 of what the first request with this key asked for (hex); null for keys kept before it was recorded.</summary>
    public string? RequestHash { get; set; }
}
