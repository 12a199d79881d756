using Microsoft.EntityFrameworkCore;

namespace Mercato.Payment.Data;

public sealed class PaymentDb(DbContextOptions<PaymentDb> options) : DbContext(options)
{
    public DbSet<PaymentRecord> Payments => Set<PaymentRecord>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<PaymentRecord>(payment =>
        {
            payment.ToTable("Payments");
            // One payment per order: a redelivered capture finds it instead of charging twice.
            payment.HasIndex(p => p.OrderId).IsUnique();
            // Every change is a step from one status to the next, taken only from the status it was read in: two refunds
            // of one order that run at once (choreography sends one for the stock failure and one for the cancellation)
            // cannot both move Captured to Refunded.
            payment.Property(p => p.Status).HasConversion<string>().HasMaxLength(16).IsConcurrencyToken();
            payment.Property(p => p.Method).HasMaxLength(64);
            payment.Property(p => p.Reason).HasMaxLength(200);
        });
    }
}

public sealed class PaymentRecord
{
    public Guid Id { get; set; }

    public Guid OrderId { get; set; }

    public Guid CustomerId { get; set; }

    public decimal Amount { get; set; }

    public required string Method { get; set; }

    public PaymentStatus Status { get; set; }

    public string? Reason { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }
}

public enum PaymentStatus
{
    Captured,
    Declined,
    Refunded,

    /// <summary>Cancelled before any money moved: a capture that arrives late is refused.</summary>
    Voided,
}
