using System.Net.Http.Json;
using System.Text.Json;

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
        ProductPage? page;
        try
        {
            page = await http.GetFromJsonAsync<ProductPage>($"/api/catalog/products?ids={string.Join(',', productIds)}", ct);
        }
        catch (JsonException ex)
        {
            // A catalog in trouble (or something else answering in its place): as unavailable as no answer at all.
            throw new HttpRequestException(HttpRequestError.InvalidResponse, $"The catalog's answer is not a product page: {ex.Message}", ex);
        }
        return (page?.Items ?? []).OfType<CatalogProduct>().Where(p => productIds.Contains(p.Id)).DistinctBy(p => p.Id).ToDictionary(p => p.Id);
    }
}
