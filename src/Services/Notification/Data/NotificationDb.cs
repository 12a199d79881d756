using Microsoft.EntityFrameworkCore;

namespace Mercato.Notification.Data;

public sealed class NotificationDb(DbContextOptions<NotificationDb> options) : DbContext(options)
{
    public DbSet<NotificationRecord> Notifications => Set<NotificationRecord>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<NotificationRecord>(n =>
        {
            n.ToTable("Notifications");
            // One notification per order and kind: a redelivered event finds it and sends nothing again.
            n.HasIndex(x => new { x.OrderId, x.Type }).IsUnique();
            n.HasIndex(x => new { x.CustomerId, x.CreatedAtTicks });
            n.Property(x => x.Type).HasMaxLength(32);
            n.Property(x => x.Message).HasMaxLength(500);
        });
    }
}

public sealed class NotificationRecord
{
    public Guid Id { get; set; }

    public Guid CustomerId { get; set; }

    public Guid OrderId { get; set; }

    public required string Type { get; set; }

    public required string Message { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>For ordering; SQLite cannot order by DateTimeOffset.</summary>
    public long CreatedAtTicks { get; set; }

    /// <summary>When the channel took it; null while the send is still queued (or dead-lettered).</summary>
    public DateTimeOffset? SentAt { get; set; }
}
