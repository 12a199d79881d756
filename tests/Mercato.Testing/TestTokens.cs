using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Mercato.ServiceDefaults.Auth;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Mercato.Testing;

/// <summary>
/// Stands in for Identity in a single service's tests: an RSA key whose public half is served as JWKS, and tokens
/// signed with it that carry the claims Identity would put in.
/// </summary>
public sealed class TestTokens : IDisposable
{
    private readonly RSA _rsa = RSA.Create(2048);
    private readonly string _keyId = "test-" + Guid.NewGuid().ToString("N")[..8];

    public string Issue(Guid userId, params string[] roles) => IssueFrom(MercatoAuth.DefaultIssuer, userId, roles);

    public string IssueFrom(string issuer, Guid userId, params string[] roles) =>
        new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer,
            Audience = MercatoAuth.DefaultAudience,
            Expires = DateTime.UtcNow.AddMinutes(30),
            SigningCredentials = new SigningCredentials(new RsaSecurityKey(_rsa) { KeyId = _keyId }, SecurityAlgorithms.RsaSha256),
            Claims = new Dictionary<string, object>
            {
                [MercatoAuth.SubjectClaim] = userId.ToString(),
                [MercatoAuth.RoleClaim] = roles,
            },
        });

    public string Jwks()
    {
        var key = _rsa.ExportParameters(false);
        return JsonSerializer.Serialize(new
        {
            keys = new[]
            {
                new { kty = "RSA", use = "sig", alg = "RS256", kid = _keyId, n = Base64UrlEncoder.Encode(key.Modulus), e = Base64UrlEncoder.Encode(key.Exponent) },
            },
        });
    }

    /// <summary>Answers every request with the JWKS document, as Identity's /.well-known/jwks.json would.</summary>
    public HttpMessageHandler CreateJwksHandler() => new JwksHandler(Jwks());

    public void Dispose() => _rsa.Dispose();

    private sealed class JwksHandler(string jwks) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(jwks, Encoding.UTF8, "application/json") });
    }
}
