using System.Net.Http.Json;
using System.Text.Json;
using Mercato.ServiceDefaults.Http;

namespace Mercato.Basket;

/// <summary>Asks the catalog (http://catalog via discovery) which products exist, so a basket holds only real ones.</summary>
public sealed class CatalogClient(HttpClient http)
{
    /// <summary>The catalog's limit on ids in one <c>?ids=</c> lookup.</summary>
    private const int IdsPerCall = 100;

    /// <summary>
    /// Which of these products the catalog does not have, asked in one call per hundred (<c>?ids=</c> lists the ones it
    /// has); throws an <see cref="HttpRequestException"/> when it cannot answer, or answers something that is not a page
    /// of products (a catalog in trouble, or something else in its place): as unavailable as no answer at all.
    /// </summary>
    public async Task<IReadOnlySet<Guid>> UnknownAsync(IReadOnlyCollection<Guid> productIds, CancellationToken ct)
    {
        var unknown = new HashSet<Guid>(productIds);
        foreach (var chunk in productIds.Chunk(IdsPerCall))
        {
            try
            {
                // One call for the status and the body: the client's timeout and buffer limit bound reading the body too.
                var page = await http.GetFromJsonAsync<JsonElement>($"/api/catalog/products?ids={string.Join(',', chunk)}", ct);
                foreach (var item in page.GetProperty("items").EnumerateArray())
                {
                    unknown.Remove(item.GetProperty("id").GetGuid());
                }
            }
            // Unreadable, or JSON of another shape (JsonElement's accessors throw these).
            catch (Exception ex) when ((Downstream.Unreadable(ex) || ex is KeyNotFoundException or FormatException or InvalidOperationException)
                && !ct.IsCancellationRequested)
            {
                throw new HttpRequestException(HttpRequestError.InvalidResponse, $"The catalog's answer is not a product page: {ex.Message}", ex);
            }
        }
        return unknown;
    }
}
