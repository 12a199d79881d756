using Mercato.ServiceDefaults.Http;
using Microsoft.EntityFrameworkCore;

namespace Mercato.Catalog.Data;

public sealed class CatalogDb(DbContextOptions<CatalogDb> options) : DbContext(options)
{
    public DbSet<Product> Products => Set<Product>();

    public DbSet<ProductCreation> ProductCreations => Set<ProductCreation>();

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
        modelBuilder.Entity<ProductCreation>(creation =>
        {
            creation.HasKey(c => new { c.AdminId, c.Key });
            creation.Property(c => c.Key).HasMaxLength(IdempotencyKeyHeader.MaxLength);
            creation.Property(c => c.RequestHash).HasMaxLength(IdempotencyKeyHeader.RequestHashLength);
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

/// <summary>An Idempotency-Key that created a product: the admin's key, and what it asked for.</summary>
public sealed class ProductCreation
{
    public Guid AdminId { get; set; }

    public required string Key { get; set; }

    public Guid ProductId { get; set; }

    /// <summary>SHA-256 (hex) of the name, description and price the key's first create asked for.</summary>
    public required string RequestHash { get; set; }
}
