using System.Net;

namespace Mercato.Basket;

/// <summary>Asks the catalog (http://catalog via discovery) whether a product exists, so a basket holds only real ones.</summary>
public sealed class CatalogClient(HttpClient http)
{
    /// <summary>What the catalog answers; throws when it cannot answer.</summary>
    public async Task<bool> ExistsAsync(Guid productId, CancellationToken ct)
    {
        using var response = await http.GetAsync($"/api/catalog/products/{productId}", HttpCompletionOption.ResponseHeadersRead, ct);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
        response.EnsureSuccessStatusCode();
        return true;
    }
}
