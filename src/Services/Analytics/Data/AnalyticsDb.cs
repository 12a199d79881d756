using Microsoft.EntityFrameworkCore;

namespace Mercato.Analytics.Data;

public sealed class AnalyticsDb(DbContextOptions<AnalyticsDb> options) : DbContext(options)
{
    /// <summary>The spec's EventStore: every integration event seen, append-only, for audit and replay.</summary>
    public DbSet<AuditEvent> Events => Set<AuditEvent>();

    /// <summary>Derived from the audit log; rebuilt by a replay.</summary>
    public DbSet<ProductSales> ProductSales => Set<ProductSales>();

    /// <summary>Derived: how often two products were bought in one order.</summary>
    public DbSet<CoPurchase> CoPurchases => Set<CoPurchase>();

    /// <summary>Derived: what each customer bought.</summary>
    public DbSet<CustomerPurchase> CustomerPurchases => Set<CustomerPurchase>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<AuditEvent>(e =>
        {
            e.HasKey(x => x.Sequence);
            // The message id makes recording idempotent: a redelivered event is not logged twice.
            e.HasIndex(x => x.MessageId).IsUnique();
            e.HasIndex(x => new { x.Type, x.OccurredAtTicks });
            // The ops console asks for the last hour of every type every few seconds: without it, a scan of the whole log.
            e.HasIndex(x => x.OccurredAtTicks);
            e.HasIndex(x => x.OrderId);
            e.Property(x => x.Type).HasMaxLength(100);
        });
        modelBuilder.Entity<ProductSales>().HasKey(x => x.ProductId);
        modelBuilder.Entity<CoPurchase>().HasKey(x => new { x.ProductId, x.BoughtWithId });
        modelBuilder.Entity<CustomerPurchase>().HasKey(x => new { x.CustomerId, x.ProductId });
    }
}

public sealed class AuditEvent
{
    public long Sequence { get; set; }

    public Guid MessageId { get; set; }

    public required string Type { get; set; }

    public Guid? OrderId { get; set; }

    public required string Data { get; set; }

    public DateTimeOffset OccurredAt { get; set; }

    public long OccurredAtTicks { get; set; }

    public string? Source { get; set; }
}

public sealed class ProductSales
{
    public Guid ProductId { get; set; }

    public int Quantity { get; set; }

    public int Orders { get; set; }
}

public sealed class CoPurchase
{
    public Guid ProductId { get; set; }

    public Guid BoughtWithId { get; set; }

    public int Count { get; set; }
}

public sealed class CustomerPurchase
{
    public Guid CustomerId { get; set; }

    public Guid ProductId { get; set; }

    public int Quantity { get; set; }
}
