using System.Net.Http.Json;
using System.Text.Json.Serialization;
using Mercato.ServiceDefaults.Http;

namespace Mercato.Ordering;

/// <summary>What ordering reads of a catalog product: its id and current price, both required in the catalog's answer.</summary>
public sealed record CatalogProduct([property: JsonRequired] Guid Id, [property: JsonRequired] decimal Price);

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
        // A catalog in trouble (or something else answering in its place): as unavailable as no answer at all.
        catch (Exception ex) when (Downstream.Unreadable(ex) && !ct.IsCancellationRequested)
        {
            throw NotAProductPage(ex.Message, ex);
        }
        // Without a list, an order of products that exist would be refused as unknown; without a price, or with a
        // negative one, it would be charged that. Neither is the customer's doing.
        if (page?.Items is not { } items)
        {
            throw NotAProductPage("it has no list of items.");
        }
        if (items.Any(p => p is { Price: < 0 }))
        {
            throw NotAProductPage("a price is negative.");
        }
        return items.OfType<CatalogProduct>().Where(p => productIds.Contains(p.Id)).DistinctBy(p => p.Id).ToDictionary(p => p.Id);
    }

    private static HttpRequestException NotAProductPage(string problem, Exception? inner = null) =>
        new(HttpRequestError.InvalidResponse, $"The catalog's answer is not a product page: {problem}", inner);
}
