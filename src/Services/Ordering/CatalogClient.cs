using System.Net;
using System.Net.Http.Json;

namespace Mercato.Ordering;

public sealed record CatalogProduct(Guid Id, string Name, decimal Price);

/// <summary>Reads current prices from the catalog (http://catalog, resolved through the registry).</summary>
public sealed class CatalogClient(HttpClient http)
{
    public async Task<CatalogProduct?> FindAsync(Guid productId, CancellationToken ct)
    {
        using var response = await http.GetAsync($"/api/catalog/products/{productId}", ct);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<CatalogProduct>(ct);
    }
}
