using System.Security.Cryptography;
using Mercato.Identity.Data;
using Mercato.ServiceDefaults.Auth;
using Microsoft.EntityFrameworkCore;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Mercato.Identity;

/// <summary>Signs access tokens with the active key from the database and publishes the public keys as JWKS.</summary>
public sealed class TokenIssuer(IdentityDb db, IConfiguration config)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(1);

    public async Task<string> IssueAsync(User user, CancellationToken ct)
    {
        // A handful of keys at most; ordered here because SQLite cannot order by DateTimeOffset.
        var key = (await db.SigningKeys.AsNoTracking().Where(k => k.Active).ToListAsync(ct)).MaxBy(k => k.CreatedAt)!;
        using var rsa = RSA.Create();
        rsa.ImportPkcs8PrivateKey(key.PrivateKey, out _);
        var credentials = new SigningCredentials(
            new RsaSecurityKey(rsa.ExportParameters(includePrivateParameters: true)) { KeyId = key.KeyId }, SecurityAlgorithms.RsaSha256);
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = MercatoAuth.Issuer(config),
            Audience = MercatoAuth.Audience(config),
            Expires = DateTime.UtcNow.Add(Lifetime),
            SigningCredentials = credentials,
            Claims = new Dictionary<string, object>
            {
                [MercatoAuth.SubjectClaim] = user.Id.ToString(),
                ["email"] = user.Email,
                ["name"] = user.Name,
                [MercatoAuth.RoleClaim] = user.RoleList.ToArray(),
            },
        });
    }

    public async Task<object> GetJwksAsync(CancellationToken ct)
    {
        var keys = (await db.SigningKeys.AsNoTracking().ToListAsync(ct)).OrderByDescending(k => k.CreatedAt);
        return new
        {
            keys = keys.Select(key =>
            {
                using var rsa = RSA.Create();
                rsa.ImportPkcs8PrivateKey(key.PrivateKey, out _);
                var publicKey = rsa.ExportParameters(includePrivateParameters: false);
                return new
                {
                    kty = "RSA",
                    use = "sig",
                    alg = SecurityAlgorithms.RsaSha256,
                    kid = key.KeyId,
                    n = Base64UrlEncoder.Encode(publicKey.Modulus),
                    e = Base64UrlEncoder.Encode(publicKey.Exponent),
                };
            }).ToList(),
        };
    }

    /// <summary>Creates the first signing key. Two instances racing here both add one; JWKS publishes both, so either signs validly.</summary>
    public static async Task EnsureSigningKeyAsync(IdentityDb db, TimeProvider time)
    {
        if (await db.SigningKeys.AnyAsync(k => k.Active))
        {
            return;
        }
        using var rsa = RSA.Create(2048);
        db.SigningKeys.Add(new SigningKey
        {
            KeyId = Convert.ToHexString(RandomNumberGenerator.GetBytes(8)).ToLowerInvariant(),
            PrivateKey = rsa.ExportPkcs8PrivateKey(),
            CreatedAt = time.GetUtcNow(),
            Active = true,
        });
        await db.SaveChangesAsync();
    }
}
