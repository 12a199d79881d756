using System.Security.Cryptography;
using Mercato.Identity.Data;
using Mercato.ServiceDefaults.Auth;
using Microsoft.EntityFrameworkCore;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Mercato.Identity;

/// <summary>
/// Signs access tokens and publishes the public keys as JWKS. A rotation publishes a new key first and signs with it
/// only <see cref="PublishLead"/> later (<see cref="SigningKeyAt"/>); a retired key stays published until the tokens it
/// signed have expired (<see cref="IsPublished"/>).
/// </summary>
public sealed class TokenIssuer(IdentityDb db, IConfiguration config, TimeProvider time)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(1);

    /// <summary>
    /// How long a new key is published before it signs. A service refetches the JWKS for a key id it does not know, but
    /// at most every <see cref="MercatoAuth.JwksRefreshInterval"/>: a token signed with a key published just after its
    /// last fetch would be refused until then. Past this lead every fetch that refuses is one made before the key existed.
    /// </summary>
    public static readonly TimeSpan PublishLead = 3 * MercatoAuth.JwksRefreshInterval;

    /// <summary>Active, or retired so recently that a token it signed may still be valid (lifetime plus clock skew).</summary>
    public static bool IsPublished(SigningKey key, DateTimeOffset now) =>
        key.Active || (key.RetiredAt is { } retiredAt && now - retiredAt < Lifetime + MercatoAuth.ClockSkew);

    /// <summary>
    /// The key that signs at <paramref name="now"/>, among those not retired yet: the newest published at least
    /// <see cref="PublishLead"/> ago; if none is (a rotation, or two, within the lead of a system's first key), the one
    /// published longest.
    /// </summary>
    public static SigningKey SigningKeyAt(IReadOnlyCollection<SigningKey> keys, DateTimeOffset now)
    {
        var usable = keys.Where(k => k.Active || k.RetiredAt > now).ToList();
        return usable.Where(k => k.CreatedAt <= now - PublishLead).MaxBy(k => k.CreatedAt)
            ?? usable.MinBy(k => k.CreatedAt)
            ?? throw new InvalidOperationException("No signing key: identity creates one at start.");
    }

    public async Task<string> IssueAsync(User user, CancellationToken ct)
    {
        // A handful of keys at most; chosen here because SQLite cannot order by DateTimeOffset.
        var key = SigningKeyAt(await db.SigningKeys.AsNoTracking().ToListAsync(ct), time.GetUtcNow());
        using var rsa = RSA.Create();
        rsa.ImportPkcs8PrivateKey(key.PrivateKey, out _);
        var credentials = new SigningCredentials(
            new RsaSecurityKey(rsa.ExportParameters(includePrivateParameters: true)) { KeyId = key.KeyId }, SecurityAlgorithms.RsaSha256);
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = MercatoAuth.Issuer(config),
            Audience = MercatoAuth.Audience(config),
            Expires = time.GetUtcNow().Add(Lifetime).UtcDateTime,
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
        var now = time.GetUtcNow();
        var keys = (await db.SigningKeys.AsNoTracking().ToListAsync(ct)).Where(k => IsPublished(k, now)).OrderByDescending(k => k.CreatedAt);
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
        db.SigningKeys.Add(NewKey(time));
        await db.SaveChangesAsync();
    }

    /// <summary>
    /// Publishes a new key, which signs from <see cref="PublishLead"/> on; the active keys sign until then and are
    /// retired. Tokens the old keys signed stay valid until they expire. Keys retired earlier whose tokens have all
    /// expired are deleted: they verify nothing any more, and their private parts would only be kept to leak, and loaded
    /// at every sign-in.
    /// </summary>
    public async Task<(SigningKey Created, IReadOnlyList<SigningKey> Retired)> RotateAsync(CancellationToken ct)
    {
        var now = time.GetUtcNow();
        // Deleted by id, not through tracked entities: two rotations at once both find the same expired key, and the
        // second's tracked delete would fail its row count (a 500).
        var expired = (await db.SigningKeys.AsNoTracking().Where(k => !k.Active).ToListAsync(ct)).Where(k => !IsPublished(k, now)).Select(k => k.KeyId).ToList();
        if (expired.Count > 0)
        {
            await db.SigningKeys.Where(k => expired.Contains(k.KeyId)).ExecuteDeleteAsync(ct);
        }
        var retired = await db.SigningKeys.Where(k => k.Active).ToListAsync(ct);
        foreach (var key in retired)
        {
            key.Active = false;
            key.RetiredAt = now + PublishLead;
        }
        var created = NewKey(time);
        db.SigningKeys.Add(created);
        await db.SaveChangesAsync(ct);
        return (created, retired);
    }

    private static SigningKey NewKey(TimeProvider time)
    {
        using var rsa = RSA.Create(2048);
        return new SigningKey
        {
            KeyId = Convert.ToHexString(RandomNumberGenerator.GetBytes(8)).ToLowerInvariant(),
            PrivateKey = rsa.ExportPkcs8PrivateKey(),
            CreatedAt = time.GetUtcNow(),
            Active = true,
        };
    }
}
