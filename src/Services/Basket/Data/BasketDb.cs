using Mercato.ServiceDefaults.Http;
using Microsoft.EntityFrameworkCore;

namespace Mercato.Basket.Data;

public sealed class BasketDb(DbContextOptions<BasketDb> options) : DbContext(options)
{
    public DbSet<BasketLine> Lines => Set<BasketLine>();

    public DbSet<BasketCheckout> Checkouts => Set<BasketCheckout>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<BasketLine>(line =>
        {
            line.HasKey(l => new { l.CustomerId, l.ProductId });
            line.ToTable(t => t.HasCheckConstraint("CK_BasketLines_Quantity", "\"Quantity\" > 0"));
        });
        modelBuilder.Entity<BasketCheckout>(checkout =>
        {
            checkout.HasKey(c => new { c.CustomerId, c.IdempotencyKey });
            // The retention purge finds answered checkouts by age.
            checkout.HasIndex(c => c.AnsweredAtTicks);
            checkout.Property(c => c.IdempotencyKey).HasMaxLength(IdempotencyKeyHeader.MaxLength);
            checkout.Property(c => c.RequestHash).HasMaxLength(IdempotencyKeyHeader.RequestHashLength);
            checkout.Property(c => c.PaymentMethod).HasMaxLength(PaymentMethodToken.MaxLength);
            // One checkout in progress per customer: a second one, with another key, fails on this index.
            checkout.HasIndex(c => c.CustomerId).IsUnique().HasFilter("\"ResponseStatus\" IS NULL");
        });
    }
}

public sealed class BasketLine
{
    public Guid CustomerId { get; set; }

    public Guid ProductId { get; set; }

    public int Quantity { get; set; }
}

/// <summary>
/// A checkout: the lines it took from the basket, and once ordering has answered, that answer, which a retry with the
/// same Idempotency-Key gets again. While <see cref="ResponseStatus"/> is null the checkout is in progress.
/// </summary>
public sealed class BasketCheckout
{
    public Guid CustomerId { get; set; }

    public required string IdempotencyKey { get; set; }

    /// <summary>The lines taken from the basket, as JSON.</summary>
    public required string Items { get; set; }

    /// <summary>SHA-256 of what the request asked for besides the basket (hex); null for checkouts kept before it was recorded.</summary>
    public string? RequestHash { get; set; }

    /// <summary>The payment method the checkout asked for (trimmed; null: ordering's default), shown while it is unfinished.</summary>
    public string? PaymentMethod { get; set; }

    public int? ResponseStatus { get; set; }

    public string? ResponseBody { get; set; }

    public string? ResponseContentType { get; set; }

    /// <summary>When ordering's answer was recorded (UTC ticks: SQLite cannot compare DateTimeOffset); null while unanswered.</summary>
    public long? AnsweredAtTicks { get; set; }
}
