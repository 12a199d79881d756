using Microsoft.EntityFrameworkCore;

namespace Mercato.Catalog.Data;

public sealed class CatalogDb(DbContextOptions<CatalogDb> options) : DbContext(options)
{
    public DbSet<Product> Products => Set<Product>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Product>(product =>
        {
            product.Property(p => p.Name).HasMaxLength(Product.NameMaxLength);
            product.Property(p => p.Description).HasMaxLength(Product.DescriptionMaxLength);
            product.HasIndex(p => p.Name);
            // Optimistic concurrency: an update commits only over the version it read (the ETag clients send back).
            product.Property(p => p.Version).IsConcurrencyToken();
        });
    }
}

public sealed class Product
{
    public const int NameMaxLength = 200;
    public const int DescriptionMaxLength = 2000;

    public Guid Id { get; set; }

    public required string Name { get; set; }

    public required string Description { get; set; }

    public decimal Price { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }

    /// <summary>1 when created, one more at every update: the product's ETag.</summary>
    public int Version { get; set; } = 1;
}
