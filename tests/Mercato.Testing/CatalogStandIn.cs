using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;

namespace Mercato.Testing;

/// <summary>
/// The catalog's product lookup (<c>GET /api/catalog/products/{id}</c>) for a service under test that asks whether
/// products exist: 200 for a product <paramref name="has"/> accepts, 404 otherwise, a refused connection while
/// <see cref="Down"/>. Every product asked about is recorded.
/// </summary>
public sealed class CatalogStandIn(Func<Guid, bool> has)
{
    public bool Down { get; set; }

    public bool Has(Guid productId) => has(productId);

    public ConcurrentQueue<Guid> Asked { get; } = new();

    public HttpMessageHandler CreateHandler() => new Handler(this);

    private sealed class Handler(CatalogStandIn catalog) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (catalog.Down)
            {
                throw new HttpRequestException(HttpRequestError.ConnectionError, "connection refused");
            }
            var id = Guid.Parse(request.RequestUri!.Segments[^1]);
            catalog.Asked.Enqueue(id);
            return Task.FromResult(catalog.Has(id)
                ? new HttpResponseMessage(HttpStatusCode.OK) { Content = JsonContent.Create(new { id, name = "x", description = "", price = 1m }) }
                : new HttpResponseMessage(HttpStatusCode.NotFound));
        }
    }
}
