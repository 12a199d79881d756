using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;

namespace Mercato.Testing;

/// <summary>
/// The catalog's product lookups for a service under test that asks whether products exist: one product
/// (<c>GET /api/catalog/products/{id}</c>: 200 for a product <paramref name="has"/> accepts, 404 otherwise) or several
/// (<c>GET /api/catalog/products?ids=a,b</c>: the page of those it has); a refused connection while <see cref="Down"/>.
/// Every product asked about, and every call, is recorded.
/// </summary>
public sealed class CatalogStandIn(Func<Guid, bool> has)
{
    public bool Down { get; set; }

    /// <summary>
    /// When set, what a lookup of several products answers instead of their page: this body with a 200, or, when it is
    /// <see cref="CutOff"/>, a body that breaks off after a few bytes, as a connection lost mid-answer does.
    /// </summary>
    public string? Garbled { get; set; }

    public const string CutOff = "(cut off)";

    public bool Has(Guid productId) => has(productId);

    public ConcurrentQueue<Guid> Asked { get; } = new();

    private int _calls;

    /// <summary>Requests that reached the catalog.</summary>
    public int Calls => Volatile.Read(ref _calls);

    public HttpMessageHandler CreateHandler() => new Handler(this);

    private sealed class Handler(CatalogStandIn catalog) : HttpMessageHandler
    {
        private static object Product(Guid id) => new { id, name = "x", description = "", price = 1m };

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (catalog.Down)
            {
                throw new HttpRequestException(HttpRequestError.ConnectionError, "connection refused");
            }
            Interlocked.Increment(ref catalog._calls);
            var ids = System.Web.HttpUtility.ParseQueryString(request.RequestUri!.Query)["ids"];
            if (ids is not null && catalog.Garbled is { } garbled)
            {
                return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK)
                {
                    Content = garbled == CutOff
                        ? BrokenOffContent.Json("{\"items\":[{\"id\"")
                        : new StringContent(garbled, System.Text.Encoding.UTF8, "application/json"),
                });
            }
            if (ids is not null)
            {
                var asked = ids.Split(',').Select(Guid.Parse).ToList();
                asked.ForEach(catalog.Asked.Enqueue);
                var found = asked.Where(catalog.Has).Select(Product).ToList();
                return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK)
                {
                    Content = JsonContent.Create(new { items = found, total = found.Count, page = 1, pageSize = asked.Count }),
                });
            }
            var id = Guid.Parse(request.RequestUri.Segments[^1]);
            catalog.Asked.Enqueue(id);
            return Task.FromResult(catalog.Has(id)
                ? new HttpResponseMessage(HttpStatusCode.OK) { Content = JsonContent.Create(Product(id)) }
                : new HttpResponseMessage(HttpStatusCode.NotFound));
        }
    }
}
