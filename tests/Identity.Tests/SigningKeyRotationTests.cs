using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Mercato.Identity.Data;
using Mercato.ServiceDefaults.Auth;
using Mercato.Testing;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Mercato.Identity.Tests;

/// <summary>
/// Rotation retires the signing key: new tokens carry the new key, tokens already out stay valid while they live, and
/// once they have all expired the old key is no longer published, so nothing it signs is accepted.
/// </summary>
public sealed class SigningKeyRotationTests(IdentityFactory identity) : IClassFixture<IdentityFactory>
{
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);

    [Fact]
    public async Task A_rotation_publishes_a_new_key_signs_with_it_after_the_lead_and_drops_the_old_one_once_its_tokens_expired()
    {
        await using var app = identity.WithWebHostBuilder(b => b.ConfigureTestServices(s => s.AddSingleton<TimeProvider>(_clock)));
        var before = await AdminTokenAsync(app);

        var rotated = await With(app, before).PostAsync("/api/identity/admin/signing-keys/rotate", null);
        Assert.Equal(HttpStatusCode.OK, rotated.StatusCode);
        var rotation = (await rotated.Content.ReadFromJsonAsync<RotationResponse>())!;
        var duringLead = await AdminTokenAsync(app);

        // Published at once, signing only after the lead: a service that fetched the JWKS just before the rotation
        // would refuse a token with the new key until it may fetch again.
        Assert.Equal([KeyIdOf(before)], rotation.Retired);
        Assert.Equal(_clock.GetUtcNow() + TokenIssuer.PublishLead, rotation.SignsFrom);
        Assert.Equal(KeyIdOf(before), KeyIdOf(duringLead));
        Assert.Equal(new[] { KeyIdOf(before), rotation.KeyId }.Order(), (await PublishedAsync(app)).Order());

        _clock.Advance(TokenIssuer.PublishLead);
        var after = await AdminTokenAsync(app);

        Assert.Equal(rotation.KeyId, KeyIdOf(after));
        Assert.Equal(new[] { KeyIdOf(before), rotation.KeyId }.Order(), (await PublishedAsync(app)).Order());
        var keys = (await With(app, before).GetFromJsonAsync<List<SigningKeyResponse>>("/api/identity/admin/signing-keys"))!;
        var (old, current) = (keys.Single(k => k.KeyId == KeyIdOf(before)), keys.Single(k => k.KeyId == rotation.KeyId));
        Assert.Equal((false, true, false, rotation.SignsFrom), (old.Active, old.Published, old.Signing, old.RetiredAt!.Value));
        Assert.Equal((true, true, true), (current.Active, current.Published, current.Signing));

        // Every token the old key signed has expired (clock skew included): it is no longer published.
        _clock.Advance(TokenIssuer.Lifetime + MercatoAuth.ClockSkew);

        Assert.Equal([rotation.KeyId], await PublishedAsync(app));
    }

    [Fact]
    public async Task A_rotation_deletes_the_keys_retired_earlier_once_their_tokens_have_expired()
    {
        // A database of its own: keys made here, an hour ahead on this test's clock, would still be signing in the
        // other tests of the class.
        await using var own = new IdentityFactory();
        await using var app = own.WithWebHostBuilder(b => b.ConfigureTestServices(s => s.AddSingleton<TimeProvider>(_clock)));
        var admin = With(app, await AdminTokenAsync(app));
        var first = (await (await admin.PostAsync("/api/identity/admin/signing-keys/rotate", null)).Content.ReadFromJsonAsync<RotationResponse>())!;
        // Only identity's clock moves: the token checks keep the real one, under which the first token is still valid.
        _clock.Advance(TokenIssuer.PublishLead + TokenIssuer.Lifetime + MercatoAuth.ClockSkew);

        var second = (await (await admin.PostAsync("/api/identity/admin/signing-keys/rotate", null)).Content.ReadFromJsonAsync<RotationResponse>())!;
        var kept = (await admin.GetFromJsonAsync<List<SigningKeyResponse>>("/api/identity/admin/signing-keys"))!;

        // The keys the first rotation retired verify nothing now: gone. The one the second retired still signs for the
        // lead, and its tokens live on after it.
        Assert.NotEmpty(first.Retired);
        Assert.All(first.Retired, retired => Assert.DoesNotContain(kept, k => k.KeyId == retired));
        Assert.Equal(new[] { first.KeyId, second.KeyId }.Order(), kept.Select(k => k.KeyId).Order());
        Assert.All(kept, k => Assert.True(k.Published));
    }

    [Fact]
    public void Two_rotations_within_one_lead_let_each_key_sign_only_once_it_was_published_for_the_lead()
    {
        var t0 = DateTimeOffset.UtcNow;
        var second = TimeSpan.FromSeconds(1);
        var lead = TokenIssuer.PublishLead;
        static SigningKey Key(string id, DateTimeOffset created, DateTimeOffset? retired) =>
            new() { KeyId = id, PrivateKey = [], CreatedAt = created, Active = retired is null, RetiredAt = retired };
        // k1 is made at t0 (retiring k0), k2 a second later (retiring k1): a double click on rotate, say.
        SigningKey[] keys = [Key("k0", t0 - TimeSpan.FromHours(2), t0 + lead), Key("k1", t0, t0 + second + lead), Key("k2", t0 + second, null)];

        Assert.Equal("k0", TokenIssuer.SigningKeyAt(keys, t0 + 5 * second).KeyId);
        Assert.Equal("k1", TokenIssuer.SigningKeyAt(keys, t0 + lead).KeyId);
        Assert.Equal("k2", TokenIssuer.SigningKeyAt(keys, t0 + second + lead).KeyId);
        // A system's first key, rotated within its own lead: none is published long enough, the oldest signs.
        SigningKey[] fresh = [Key("first", t0, t0 + lead), Key("next", t0 + second, null)];
        Assert.Equal("first", TokenIssuer.SigningKeyAt(fresh, t0 + 2 * second).KeyId);
        Assert.Equal("next", TokenIssuer.SigningKeyAt(fresh, t0 + second + lead).KeyId);
    }

    [Fact]
    public async Task Only_admins_see_or_rotate_the_signing_keys()
    {
        var customer = identity.CreateClient();
        var email = $"keys-{Guid.NewGuid():N}@example.test";
        (await customer.PostAsJsonAsync("/api/identity/users", new { email, password = "Secret123", name = "Kay" })).EnsureSuccessStatusCode();
        customer = With(identity, await TokenAsync(identity, email, "Secret123"));

        await ProblemAssert.IsProblem(await customer.PostAsync("/api/identity/admin/signing-keys/rotate", null), HttpStatusCode.Forbidden);
        await ProblemAssert.IsProblem(await customer.GetAsync("/api/identity/admin/signing-keys"), HttpStatusCode.Forbidden);
        await ProblemAssert.IsProblem(await identity.CreateClient().GetAsync("/api/identity/admin/signing-keys"), HttpStatusCode.Unauthorized);
    }

    private static HttpClient With(WebApplicationFactory<Program> app, string token)
    {
        var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    private static Task<string> AdminTokenAsync(WebApplicationFactory<Program> app) =>
        TokenAsync(app, DevAdminSeeder.AdminEmail, DevAdminSeeder.DevelopmentPassword);

    private static async Task<string> TokenAsync(WebApplicationFactory<Program> app, string email, string password)
    {
        var response = await app.CreateClient().PostAsJsonAsync("/api/identity/token", new { email, password });
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("access_token").GetString()!;
    }

    /// <summary>The kid in a token's header.</summary>
    private static string KeyIdOf(string token)
    {
        var header = token.Split('.')[0].Replace('-', '+').Replace('_', '/');
        var json = Encoding.UTF8.GetString(Convert.FromBase64String(header.PadRight(header.Length + (4 - header.Length % 4) % 4, '=')));
        return JsonDocument.Parse(json).RootElement.GetProperty("kid").GetString()!;
    }

    private static async Task<List<string>> PublishedAsync(WebApplicationFactory<Program> app) =>
        [.. (await app.CreateClient().GetFromJsonAsync<JsonElement>("/.well-known/jwks.json")).GetProperty("keys").EnumerateArray()
            .Select(k => k.GetProperty("kid").GetString()!)];
}
