using System.Net;
using System.Net.Http.Json;
using Mercato.Testing;

namespace Mercato.Catalog.Tests;

/// <summary>A token arrives before identity's signing keys could ever be fetched (identity not up yet, or down).</summary>
public sealed class SigningKeysUnavailableTests : IAsyncLifetime
{
    private readonly CatalogWithIdentityDown _catalog = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _catalog.DisposeAsync();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_token_that_cannot_be_checked_yet_is_503_with_retry_after_and_accepted_once_identity_answers(bool answersWithoutKeys)
    {
        // Identity down, or something answering in its place with an empty key set: either way no key to check with.
        _catalog.AnswersWithoutKeys = answersWithoutKeys;
        var admin = _catalog.CreateAdminClient();
        var uncheckable = await admin.PostAsJsonAsync("/api/catalog/products", new { name = "Milk Jug", price = 12m });
        await ProblemAssert.IsProblem(uncheckable, HttpStatusCode.ServiceUnavailable);
        Assert.Equal(TimeSpan.FromSeconds(5), uncheckable.Headers.RetryAfter?.Delta);
        // A token is not needed for what anyone may read.
        Assert.Equal(HttpStatusCode.OK, (await _catalog.CreateClient().GetAsync("/api/catalog/products")).StatusCode);

        _catalog.IdentityUp = true;
        var created = HttpStatusCode.ServiceUnavailable;
        for (var attempt = 0; attempt < 30 && created == HttpStatusCode.ServiceUnavailable; attempt++)
        {
            await Task.Delay(TimeSpan.FromSeconds(0.5));
            created = (await admin.PostAsJsonAsync("/api/catalog/products", new { name = "Milk Jug", price = 12m })).StatusCode;
        }
        Assert.Equal(HttpStatusCode.Created, created);
        // Keys in hand, a token they did not sign is refused as before.
        var forged = _catalog.CreateClientWithToken(new TestTokens().Issue(_catalog.AdminId, "admin"));
        await ProblemAssert.IsProblem(await forged.PostAsJsonAsync("/api/catalog/products", new { name = "Milk Jug", price = 12m }), HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Through_the_gateway_with_its_user_headers_a_token_that_cannot_be_checked_yet_is_still_503_not_400()
    {
        // The gateway has identity's keys and states the user; this instance never got them, so the token is unchecked
        // here: the headers mean nothing without it, and the answer is the one a direct call gets.
        var admin = _catalog.CreateAdminClient();
        admin.DefaultRequestHeaders.Add("X-User-Id", _catalog.AdminId.ToString());
        admin.DefaultRequestHeaders.Add("X-User-Roles", "admin,customer");

        var uncheckable = await admin.PostAsJsonAsync("/api/catalog/products", new { name = "Milk Jug", price = 12m });
        var read = await admin.GetAsync("/api/catalog/products");

        await ProblemAssert.IsProblem(uncheckable, HttpStatusCode.ServiceUnavailable);
        Assert.Equal(TimeSpan.FromSeconds(5), uncheckable.Headers.RetryAfter?.Delta);
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
    }

    [Fact]
    public async Task Keys_once_fetched_stay_in_use_when_an_empty_key_set_is_answered_later()
    {
        _catalog.IdentityUp = true;
        var admin = _catalog.CreateAdminClient();
        Assert.Equal(HttpStatusCode.Created, (await admin.PostAsJsonAsync("/api/catalog/products", new { name = "Tea Tin", price = 9m })).StatusCode);

        // Something answers in identity's place with no keys. A token naming a key the service does not hold makes it
        // fetch the key set again (at most every 5 s).
        (_catalog.IdentityUp, _catalog.AnswersWithoutKeys) = (false, true);
        var forged = _catalog.CreateClientWithToken(new TestTokens().Issue(_catalog.AdminId, "admin"));
        for (var attempt = 0; attempt < 40 && _catalog.EmptyKeySetsAnswered == 0; attempt++)
        {
            await forged.PostAsJsonAsync("/api/catalog/products", new { name = "Tea Tin", price = 9m });
            await Task.Delay(TimeSpan.FromSeconds(0.5));
        }
        Assert.True(_catalog.EmptyKeySetsAnswered > 0, "the key set was never fetched again");

        for (var check = 0; check < 3; check++)
        {
            await Task.Delay(TimeSpan.FromSeconds(0.5));
            Assert.Equal(HttpStatusCode.Created, (await admin.PostAsJsonAsync("/api/catalog/products", new { name = "Tea Tin", price = 9m })).StatusCode);
        }
    }

    private sealed class CatalogWithIdentityDown : ServiceFactory<Program>
    {
        private int _emptyKeySetsAnswered;

        public int EmptyKeySetsAnswered => Volatile.Read(ref _emptyKeySetsAnswered);

        public void CountEmptyKeySet() => Interlocked.Increment(ref _emptyKeySetsAnswered);

        public bool IdentityUp { get; set; }

        public bool AnswersWithoutKeys { get; set; }

        protected override HttpMessageHandler CreateJwksHandler() => new Switched(this, Tokens.CreateJwksHandler());
    }

    /// <summary>Until identity is up, refuses the connection or answers an empty key set; then serves the test keys.</summary>
    private sealed class Switched(CatalogWithIdentityDown catalog, HttpMessageHandler keys) : DelegatingHandler(keys)
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            catalog.IdentityUp ? base.SendAsync(request, cancellationToken)
            : catalog.AnswersWithoutKeys ? EmptyKeySet()
            : throw new HttpRequestException(HttpRequestError.ConnectionError, "Connection refused (identity)");

        private Task<HttpResponseMessage> EmptyKeySet()
        {
            catalog.CountEmptyKeySet();
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("""{"keys":[]}""") });
        }
    }
}
