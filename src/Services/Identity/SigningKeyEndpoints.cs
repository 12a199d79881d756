using Mercato.Identity.Data;
using Mercato.ServiceDefaults.Auth;
using Microsoft.EntityFrameworkCore;

namespace Mercato.Identity;

/// <summary>A signing key as an admin sees it: never its private part.</summary>
public sealed record SigningKeyResponse(string KeyId, DateTimeOffset CreatedAt, bool Active, DateTimeOffset? RetiredAt, bool Published, bool Signing);

/// <summary>The new key, which signs from <paramref name="SignsFrom"/> on, and the keys it retires then.</summary>
public sealed record RotationResponse(string KeyId, DateTimeOffset SignsFrom, IReadOnlyList<string> Retired);

/// <summary>Key rotation: which keys sign and which are published, and a rotation that retires the signing key.</summary>
public static class SigningKeyEndpoints
{
    public static void MapSigningKeyEndpoints(this WebApplication app)
    {
        var keys = app.MapGroup("/api/identity/admin/signing-keys").RequireAuthorization(MercatoAuth.AdminPolicy).WithTags("Identity");

        keys.MapGet("/", async (IdentityDb db, TimeProvider time, CancellationToken ct) =>
        {
            var now = time.GetUtcNow();
            // A handful of keys; ordered here because SQLite cannot order by DateTimeOffset.
            var all = await db.SigningKeys.AsNoTracking().ToListAsync(ct);
            var signing = TokenIssuer.SigningKeyAt(all, now);
            return all.OrderByDescending(k => k.CreatedAt)
                .Select(k => new SigningKeyResponse(k.KeyId, k.CreatedAt, k.Active, k.RetiredAt, TokenIssuer.IsPublished(k, now), k == signing))
                .ToList();
        }).Produces<List<SigningKeyResponse>>();

        keys.MapPost("/rotate", async (TokenIssuer issuer, CancellationToken ct) =>
        {
            var (created, retired) = await issuer.RotateAsync(ct);
            return Results.Ok(new RotationResponse(created.KeyId, created.CreatedAt + TokenIssuer.PublishLead, [.. retired.Select(k => k.KeyId)]));
        }).Produces<RotationResponse>();
    }
}
