using System.Net.Http.Json;
using Mercato.Testing;

namespace Mercato.Catalog.Tests;

/// <summary>
/// Search is one feature on both profiles: SQLite's FTS5 (embedded) and PostgreSQL's full-text search (scale-out) find
/// the same products for the same words, each word a prefix, every word required.
/// </summary>
public sealed class SearchProfilesTests
{
    // Short words that are English stop words too ("in", "over", "me", "s", "for", "the"), as typed while searching.
    private static readonly string[] Queries =
        ["in", "over", "me", "s", "for", "the mug", "knife for chef", "coffee", "mugs", "grinder settings", "pour over", "board game"];

    [SkippableFact]
    public async Task The_same_words_find_the_same_products_on_sqlite_and_on_postgresql()
    {
        await using var sqlite = new ServiceFactory<Program>();
        await using var database = await PostgresTestDatabase.CreateAsync("catalog_search");
        await using var postgres = database.ScaleOutHost<Program>("catalog");
        using var embedded = sqlite.CreateClient();
        using var scaleOut = postgres.CreateClient();

        foreach (var q in Queries)
        {
            var onSqlite = await NamesAsync(embedded, q);
            var onPostgres = await NamesAsync(scaleOut, q);
            Assert.True(onSqlite.SetEquals(onPostgres),
                $"q={q}: SQLite found [{string.Join(", ", onSqlite.Order())}], PostgreSQL [{string.Join(", ", onPostgres.Order())}]");
        }
        Assert.Contains("Insulated Water Bottle", await NamesAsync(scaleOut, "in"));
        Assert.Contains("Pour-Over Kettle", await NamesAsync(scaleOut, "over"));
    }

    private static async Task<HashSet<string>> NamesAsync(HttpClient client, string q)
    {
        var page = await client.GetFromJsonAsync<ProductPage>($"/api/catalog/products?q={Uri.EscapeDataString(q)}&pageSize=100");
        return [.. page!.Items.Select(p => p.Name)];
    }
}
