using Microsoft.EntityFrameworkCore;

namespace Mercato.Identity.Data;

public sealed class IdentityDb(DbContextOptions<IdentityDb> options) : DbContext(options)
{
    public DbSet<User> Users => Set<User>();

    public DbSet<SigningKey> SigningKeys => Set<SigningKey>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<User>(user =>
        {
            user.Property(u => u.Email).HasMaxLength(254);
            user.HasIndex(u => u.NormalizedEmail).IsUnique();
            user.Property(u => u.NormalizedEmail).HasMaxLength(254);
            user.Property(u => u.Name).HasMaxLength(100);
            user.Property(u => u.Roles).HasMaxLength(200);
        });
        modelBuilder.Entity<SigningKey>(key =>
        {
            key.HasKey(k => k.KeyId);
            key.Property(k => k.KeyId).HasMaxLength(64);
        });
    }
}

public sealed class User
{
    public Guid Id { get; set; }

    public required string Email { get; set; }

    /// <summary>Lower-cased e-mail, unique: two spellings of one address are one account.</summary>
    public required string NormalizedEmail { get; set; }

    public required string Name { get; set; }

    public string PasswordHash { get; set; } = "";

    /// <summary>Comma-separated role names.</summary>
    public required string Roles { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>Wrong passwords since the last sign-in or lockout; reaching the limit locks the account.</summary>
    public int FailedSignIns { get; set; }

    public DateTimeOffset? LockedOutUntil { get; set; }

    /// <summary>When the last sign-in attempt was taken: attempts at the limit that stay unrecorded for long were lost.</summary>
    public DateTimeOffset? LastAttemptAt { get; set; }

    public IReadOnlyList<string> RoleList => Roles.Split(',', StringSplitOptions.RemoveEmptyEntries);
}

/// <summary>An RSA key pair Identity signs tokens with; the public half is published as JWKS.</summary>
public sealed class SigningKey
{
    public required string KeyId { get; set; }

    /// <summary>PKCS#8 private key. In a real deployment this belongs in a key vault; here it is the service's own data.</summary>
    public required byte[] PrivateKey { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public bool Active { get; set; }

    /// <summary>
    /// When a rotation stopped signing with it. Its public key is published until every token it signed has expired,
    /// then no longer, so a retired key cannot sign anything the system accepts.
    /// </summary>
    public DateTimeOffset? RetiredAt { get; set; }
}
