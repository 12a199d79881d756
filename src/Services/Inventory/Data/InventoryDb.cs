using Microsoft.EntityFrameworkCore;

namespace Mercato.Inventory.Data;

public sealed class InventoryDb(DbContextOptions<InventoryDb> options) : DbContext(options)
{
    public DbSet<StockItem> StockItems => Set<StockItem>();

    public DbSet<Reservation> Reservations => Set<Reservation>();

    /// <summary>
    /// Orders this service heard of: their lines (choreography, until the payment is captured) and whether they were
    /// cancelled, so a reservation that arrives after the cancellation is refused instead of holding stock forever.
    /// </summary>
    public DbSet<PendingOrder> PendingOrders => Set<PendingOrder>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<StockItem>(item =>
        {
            item.HasKey(i => i.ProductId);
            item.Property(i => i.Version).IsConcurrencyToken();
            item.ToTable(t =>
            {
                t.HasCheckConstraint("CK_StockItems_OnHand", "\"OnHand\" >= 0");
                t.HasCheckConstraint("CK_StockItems_Reserved", "\"Reserved\" >= 0 AND \"Reserved\" <= \"OnHand\"");
            });
        });
        modelBuilder.Entity<PendingOrder>().HasKey(p => p.OrderId);
        modelBuilder.Entity<Reservation>(reservation =>
        {
            // One reservation line per order and product: a redelivered reserve request finds it instead of adding another.
            reservation.HasIndex(r => new { r.OrderId, r.ProductId }).IsUnique();
            reservation.Property(r => r.Status).HasConversion<string>().HasMaxLength(16);
            reservation.ToTable(t => t.HasCheckConstraint("CK_Reservations_Quantity", "\"Quantity\" > 0"));
        });
    }
}

/// <summary>Stock of one product. Available = OnHand - Reserved; the check constraints keep it from going negative.</summary>
public sealed class StockItem
{
    public Guid ProductId { get; set; }

    public int OnHand { get; set; }

    public int Reserved { get; set; }

    public int Available => OnHand - Reserved;

    /// <summary>Optimistic concurrency: two writers of one item cannot both win.</summary>
    public long Version { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>Units held for an order until it is confirmed (committed) or compensated (released).</summary>
public sealed class Reservation
{
    public Guid Id { get; set; }

    public Guid OrderId { get; set; }

    public Guid ProductId { get; set; }

    public int Quantity { get; set; }

    public ReservationStatus Status { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }
}

public sealed class PendingOrder
{
    public Guid OrderId { get; set; }

    public required string LinesJson { get; set; }

    public bool Cancelled { get; set; }
}

public enum ReservationStatus
{
    Reserved,
    Released,
    Committed,
}
