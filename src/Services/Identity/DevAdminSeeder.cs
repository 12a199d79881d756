using Mercato.Identity.Data;
using Mercato.ServiceDefaults.Auth;
using Mercato.ServiceDefaults.Data;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace Mercato.Identity;

/// <summary>
/// Seeds admin@mercato.local. Its password comes from Identity:AdminPassword, and follows it when it changes; only in
/// Development does it default to Admin123!, so no deployment outside development ever has a known password.
/// </summary>
public static class DevAdminSeeder
{
    public const string AdminEmail = "admin@mercato.local";
    public const string DevelopmentPassword = "Admin123!";

    public static async Task SeedAsync(WebApplication app)
    {
        var configured = app.Configuration["Identity:AdminPassword"];
        if (configured is not null && string.IsNullOrWhiteSpace(configured))
        {
            throw new InvalidOperationException("Identity:AdminPassword must not be empty.");
        }
        var password = configured ?? (app.Environment.IsDevelopment() ? DevelopmentPassword : null);
        if (password is null)
        {
            app.Logger.LogInformation("No Identity:AdminPassword configured; no admin account seeded");
            return;
        }
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<IdentityDb>();
        var hasher = scope.ServiceProvider.GetRequiredService<IPasswordHasher<User>>();
        var normalized = AdminEmail.ToLowerInvariant();
        if (await db.Users.SingleOrDefaultAsync(u => u.NormalizedEmail == normalized) is { } existing)
        {
            // The configured password is the admin's: changing it in configuration (a rotated secret) takes effect at
            // the next start, where the first one seeded stayed for ever.
            if (!existing.RoleList.Contains(MercatoAuth.AdminRole))
            {
                // Registered by someone before the address was reserved: never given the admin's password or role.
                app.Logger.LogError("{Email} belongs to an account without the admin role; no admin is seeded until it is removed", AdminEmail);
                return;
            }
            if (configured is not null && hasher.VerifyHashedPassword(existing, existing.PasswordHash, configured) == PasswordVerificationResult.Failed)
            {
                existing.PasswordHash = hasher.HashPassword(existing, configured);
                await db.SaveChangesAsync();
                app.Logger.LogInformation("Admin account {Email} now has the configured password", AdminEmail);
            }
            return;
        }
        var admin = new User
        {
            Id = Guid.CreateVersion7(),
            Email = AdminEmail,
            NormalizedEmail = normalized,
            Name = "Mercato Admin",
            Roles = $"{MercatoAuth.AdminRole},{MercatoAuth.CustomerRole}",
            CreatedAt = DateTimeOffset.UtcNow,
        };
        admin.PasswordHash = hasher.HashPassword(admin, password);
        db.Users.Add(admin);
        try
        {
            await db.SaveChangesAsync();
            app.Logger.LogInformation("Seeded admin account {Email}", AdminEmail);
        }
        catch (DbUpdateException ex) when (DatabaseErrors.IsUniqueViolation(ex))
        {
            // Another instance seeded it first.
        }
    }
}
