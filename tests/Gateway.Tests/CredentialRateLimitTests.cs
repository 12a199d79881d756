using System.Net;
using System.Net.Http.Json;
using Mercato.ServiceDefaults.Resilience;
using Mercato.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Mercato.Gateway.Tests;

/// <summary>
/// Sign-in and registration cost identity a slow password hash each, so they draw on a small bucket per client address
/// of their own (gateway.rateLimit.credential*), on top of the anonymous one.
/// </summary>
public sealed class CredentialRateLimitTests : IAsyncLifetime
{
    private WebApplication _services = null!;

    public async Task InitializeAsync() => _services = await LoopbackServer.StartAsync(app =>
    {
        app.MapPost("/api/identity/token", () => Results.Unauthorized());
        app.MapPost("/api/identity/users", () => Results.Created("/api/identity/users/1", new { }));
        app.MapGet("/api/catalog/products", () => "[]");
    });

    public async Task DisposeAsync() => await _services.DisposeAsync();

    [Fact]
    public async Task Sign_ins_and_registrations_beyond_the_credential_burst_are_429_while_other_anonymous_calls_go_on()
    {
        await using var gateway = new GatewayFactory(new Dictionary<string, string>
        {
            ["identity"] = LoopbackServer.AddressOf(_services),
            ["catalog"] = LoopbackServer.AddressOf(_services),
        });
        using var client = gateway.CreateClient();
        gateway.Services.GetRequiredService<PolicyStore>().Apply(new MeshPolicy
        {
            Version = 2,
            // Plenty of anonymous calls; three password checks, then one a minute.
            Gateway = new GatewayPolicy { RateLimit = new GatewayRateLimit { CredentialBurst = 3, CredentialPermitsPerMinute = 1 } },
        });
        var credentials = new { email = "a@b.test", password = "Secret123" };

        var allowed = new List<HttpStatusCode>
        {
            (await client.PostAsJsonAsync("/api/identity/token", credentials)).StatusCode,
            (await client.PostAsJsonAsync("/api/identity/users", credentials)).StatusCode,
            (await client.PostAsJsonAsync("/api/identity/token/", credentials)).StatusCode,
        };
        var refused = await client.PostAsJsonAsync("/api/identity/token", credentials);
        var elsewhere = await client.GetAsync("/api/catalog/products");

        Assert.Equal([HttpStatusCode.Unauthorized, HttpStatusCode.Created, HttpStatusCode.Unauthorized], allowed);
        await ProblemAssert.IsProblem(refused, HttpStatusCode.TooManyRequests);
        Assert.True(refused.Headers.RetryAfter?.Delta > TimeSpan.Zero, "no Retry-After on the refusal");
        Assert.Equal(HttpStatusCode.OK, elsewhere.StatusCode);

        // A change elsewhere in the policy (a chaos experiment switched on) does not refill the bucket.
        var rateLimits = gateway.Services.GetRequiredService<PolicyStore>().Current.Gateway.RateLimit;
        gateway.Services.GetRequiredService<PolicyStore>().Apply(new MeshPolicy
        {
            Version = 3,
            Gateway = new GatewayPolicy { RateLimit = rateLimits },
            Targets = { ["analytics"] = TargetPolicy.Default with { Retry = TargetPolicy.Default.Retry with { MaxRetries = 1 } } },
        });
        await ProblemAssert.IsProblem(await client.PostAsJsonAsync("/api/identity/token", credentials), HttpStatusCode.TooManyRequests);
        // A change of the credential limits applies at once.
        gateway.Services.GetRequiredService<PolicyStore>().Apply(new MeshPolicy
        {
            Version = 4,
            Gateway = new GatewayPolicy { RateLimit = rateLimits with { CredentialBurst = 5 } },
        });
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.PostAsJsonAsync("/api/identity/token", credentials)).StatusCode);
    }

    [Fact]
    public async Task Calls_turned_away_for_their_token_count_against_the_anonymous_bucket()
    {
        await using var gateway = new GatewayFactory(new Dictionary<string, string> { ["catalog"] = LoopbackServer.AddressOf(_services) });
        using var client = gateway.CreateClient();
        HttpRequestMessage WithBadToken()
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/api/catalog/products");
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "not.a.token");
            return request;
        }
        // Warmed under the default limits, so the calls below are not spread over the bucket's one-second refill.
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.SendAsync(WithBadToken())).StatusCode);
        gateway.Services.GetRequiredService<PolicyStore>().Apply(new MeshPolicy
        {
            Version = 2,
            Gateway = new GatewayPolicy { RateLimit = new GatewayRateLimit { AnonymousBurst = 3, AnonymousPermitsPerSecond = 1 } },
        });

        var answers = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => client.SendAsync(WithBadToken())));

        Assert.Equal([HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.TooManyRequests],
            answers.Select(a => a.StatusCode).Order());
        await ProblemAssert.IsProblem(answers.Single(a => a.StatusCode == HttpStatusCode.TooManyRequests), HttpStatusCode.TooManyRequests);
    }
}
