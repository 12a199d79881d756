using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Mercato.ServiceDefaults.Auth;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace Mercato.Gateway.Tests;

/// <summary>
/// The home page's parts answering with bodies that are not what the page expects: each costs its own part, never the
/// page. The parts are stood in for by the page's HTTP client's innermost handler.
/// </summary>
public sealed class HomePageTests : IAsyncLifetime
{
    private readonly GatewayFactory _gateway = new(new Dictionary<string, string> { ["catalog"] = "http://catalog" });
    private HttpClient _client = null!;
    private readonly Dictionary<string, (HttpStatusCode Status, string Body)> _answers = new(StringComparer.Ordinal);

    public Task InitializeAsync()
    {
        var factory = _gateway.WithWebHostBuilder(builder => builder.ConfigureTestServices(services =>
            services.AddHttpClient<HomePage>().ConfigurePrimaryHttpMessageHandler(() => new Parts(_answers))));
        _client = factory.CreateClient();
        _client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", _gateway.Tokens.Issue(Guid.NewGuid(), MercatoAuth.CustomerRole));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _gateway.DisposeAsync();
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("""{"items":"none"}""")]
    [InlineData("""{"items":[{"id":"not a guid"}]}""")]
    [InlineData("""{"items":[{"name":"no id"}]}""")]
    public async Task A_catalog_page_that_is_not_one_leaves_the_fallback_empty_not_the_page_failed(string catalogPage)
    {
        _answers["/api/analytics/recommendations"] = (HttpStatusCode.ServiceUnavailable, "{}");
        _answers["/api/catalog/products"] = (HttpStatusCode.OK, catalogPage);

        var response = await _client.GetAsync("/api/home");

        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        var page = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(HomePage.TrendingFallback, page.GetProperty("recommendationsSource").GetString());
        Assert.Empty(page.GetProperty("recommendations").EnumerateArray());
    }

    [Fact]
    public async Task Recommendations_whose_source_is_not_a_name_are_shown_with_no_source()
    {
        var product = Guid.NewGuid();
        _answers["/api/analytics/recommendations"] = (HttpStatusCode.OK, $$"""{"items":[{"productId":"{{product}}","score":3}],"source":5}""");

        var response = await _client.GetAsync("/api/home");

        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        var page = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("none", page.GetProperty("recommendationsSource").GetString());
        Assert.Equal(product, Assert.Single(page.GetProperty("recommendations").EnumerateArray()).GetProperty("productId").GetGuid());
    }

    [Fact]
    public async Task A_part_that_cannot_be_reached_is_explained_without_internal_addresses()
    {
        _answers["/api/identity/users/me"] = (Unreachable, "");

        var page = await (await _client.GetAsync("/api/home")).Content.ReadFromJsonAsync<JsonElement>();

        var error = page.GetProperty("profile").GetProperty("error").GetString();
        Assert.Equal("profile: unreachable", error);
    }

    /// <summary>An answer that is no answer: the connection to 10.1.2.3:4567 was refused.</summary>
    private const HttpStatusCode Unreachable = (HttpStatusCode)599;

    /// <summary>Answers each part's path as set (<see cref="Unreachable"/>: a refused connection); anything else is 503.</summary>
    private sealed class Parts(Dictionary<string, (HttpStatusCode Status, string Body)> answers) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            !answers.TryGetValue(request.RequestUri!.AbsolutePath, out var answer) ? Task.FromResult(new HttpResponseMessage(HttpStatusCode.ServiceUnavailable))
            : answer.Status == Unreachable ? throw new HttpRequestException(HttpRequestError.ConnectionError, "Connection refused (10.1.2.3:4567)")
            : Task.FromResult(new HttpResponseMessage(answer.Status) { Content = new StringContent(answer.Body, System.Text.Encoding.UTF8, "application/json") });
    }
}
