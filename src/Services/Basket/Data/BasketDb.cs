using Microsoft.EntityFrameworkCore;

namespace Mercato.Basket.Data;

public sealed class BasketDb(DbContextOptions<BasketDb> options) : DbContext(options)
{
    public DbSet<BasketLine> Lines => Set<BasketLine>();

    protected override void OnModelCreating(ModelBuilder modelBuilder) =>
        modelBuilder.Entity<BasketLine>(line =>
        {
            line.HasKey(l => new { l.CustomerId, l.ProductId });
            line.ToTable(t => t.HasCheckConstraint("CK_BasketLines_Quantity", "\"Quantity\" > 0"));
        });
}

public sealed class BasketLine
{
    public Guid CustomerId { get; set; }

    public Guid ProductId { get; set; }

    public int Quantity { get; set; }
}
