using System.Net.Http.Json;

namespace Mercato.Ordering;

public sealed record CatalogProduct(Guid Id, string Name, decimal Price);

/// <summary>Reads current prices from the catalog (http://catalog, resolved through the registry).</summary>
public sealed class CatalogClient(HttpClient http)
{
    private sealed record ProductPage(List<CatalogProduct> Items);

    /// <summary>
    /// The products the catalog has among <paramref name="productIds"/>, priced in one call
    /// (<c>GET /api/catalog/products?ids=</c>, at most 100 ids; an order has at most <see cref="OrderEndpoints.MaxLines"/>).
    /// </summary>
    public async Task<Dictionary<Guid, CatalogProduct>> FindAsync(IReadOnlyCollection<Guid> productIds, CancellationToken ct)
    {
        var page = await http.GetFromJsonAsync<ProductPage>($"/api/catalog/products?ids={string.Join(',', productIds)}", ct);
        return (page?.Items ?? []).Where(p => productIds.Contains(p.Id)).ToDictionary(p => p.Id);
    }
}
