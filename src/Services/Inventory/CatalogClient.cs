using System.Net;

namespace Mercato.Inventory;

/// <summary>Asks the catalog whether a product exists. http://catalog is resolved through the registry.</summary>
public sealed class CatalogClient(HttpClient http)
{
    public async Task<bool> ProductExistsAsync(Guid productId, CancellationToken ct)
    {
        using var response = await http.GetAsync($"/api/catalog/products/{productId}", ct);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
        response.EnsureSuccessStatusCode();
        return true;
    }
}
