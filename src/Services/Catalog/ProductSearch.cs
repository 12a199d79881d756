using System.Text.RegularExpressions;
using Mercato.Catalog.Data;
using Microsoft.EntityFrameworkCore;

namespace Mercato.Catalog;

/// <summary>Full-text search over product name and description, on the engine the profile uses.</summary>
public interface IProductSearch
{
    /// <summary>Products matching every word (as a prefix), best match first, then by name.</summary>
    Task<(IReadOnlyList<Product> Items, int Total)> SearchAsync(CatalogDb db, IReadOnlyList<string> words, int page, int pageSize, CancellationToken ct);
}

public static partial class SearchTerms
{
    /// <summary>The letters-and-digits words of free text; only these reach a search engine, so no query syntax leaks in.</summary>
    public static IReadOnlyList<string> Words(string? text) => [.. Word().Matches(text ?? "").Select(m => m.Value.ToLowerInvariant())];

    internal static async Task<IReadOnlyList<Product>> LoadInOrderAsync(CatalogDb db, List<Guid> ids, CancellationToken ct)
    {
        var products = await db.Products.AsNoTracking().Where(p => ids.Contains(p.Id)).ToDictionaryAsync(p => p.Id, ct);
        return [.. ids.Where(products.ContainsKey).Select(id => products[id])];
    }

    [GeneratedRegex(@"[\p{L}\p{N}]+")]
    private static partial Regex Word();
}

/// <summary>
/// SQLite FTS5 (virtual table ProductSearch, kept in step with Products by triggers from the migration), ranked by bm25.
/// </summary>
public sealed class Fts5ProductSearch : IProductSearch
{
    public async Task<(IReadOnlyList<Product> Items, int Total)> SearchAsync(
        CatalogDb db, IReadOnlyList<string> words, int page, int pageSize, CancellationToken ct)
    {
        var match = string.Join(' ', words.Select(w => $"\"{w}\"*"));
        var total = await db.Database
            .SqlQuery<int>($"SELECT COUNT(*) AS Value FROM ProductSearch WHERE ProductSearch MATCH {match}")
            .SingleAsync(ct);
        var ids = await db.Database
            .SqlQuery<Guid>($"""
                SELECT ProductId AS Value FROM ProductSearch WHERE ProductSearch MATCH {match}
                ORDER BY rank, Name LIMIT {pageSize} OFFSET {(page - 1) * pageSize}
                """)
            .ToListAsync(ct);
        return (await SearchTerms.LoadInOrderAsync(db, ids, ct), total);
    }
}

/// <summary>
/// PostgreSQL full-text search: a generated tsvector column (name weighted above description) with a GIN index, from the
/// PostgreSQL migrations; ranked by ts_rank. Its configuration, mercato_search, is English stemming without English stop
/// words, so the same words find the same products as FTS5 on SQLite.
/// </summary>
public sealed class PostgresProductSearch : IProductSearch
{
    public async Task<(IReadOnlyList<Product> Items, int Total)> SearchAsync(
        CatalogDb db, IReadOnlyList<string> words, int page, int pageSize, CancellationToken ct)
    {
        var query = string.Join(" & ", words.Select(w => w + ":*"));
        var total = await db.Database
            .SqlQuery<int>($"""SELECT COUNT(*)::int AS "Value" FROM "Products" WHERE "SearchVector" @@ to_tsquery('mercato_search', {query})""")
            .SingleAsync(ct);
        var ids = await db.Database
            .SqlQuery<Guid>($"""
                SELECT "Id" AS "Value" FROM "Products" WHERE "SearchVector" @@ to_tsquery('mercato_search', {query})
                ORDER BY ts_rank("SearchVector", to_tsquery('mercato_search', {query})) DESC, "Name"
                LIMIT {pageSize} OFFSET {(page - 1) * pageSize}
                """)
            .ToListAsync(ct);
        return (await SearchTerms.LoadInOrderAsync(db, ids, ct), total);
    }
}
