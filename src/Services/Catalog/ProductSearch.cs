using System.Text.RegularExpressions;
using Mercato.Catalog.Data;
using Microsoft.EntityFrameworkCore;

namespace Mercato.Catalog;

/// <summary>
/// Full-text search over name and description with SQLite FTS5 (table ProductSearch, kept in step with Products by
/// triggers created in the migration), ranked by bm25.
/// </summary>
public static partial class ProductSearch
{
    /// <summary>Turns free text into a safe FTS5 query: every word must match, as a prefix. Null when there is no word.</summary>
    public static string? ToMatchExpression(string? text)
    {
        var words = Word().Matches(text ?? "").Select(m => $"\"{m.Value}\"*").ToList();
        return words.Count == 0 ? null : string.Join(' ', words);
    }

    public static async Task<(IReadOnlyList<Product> Items, int Total)> SearchAsync(
        CatalogDb db, string match, int page, int pageSize, CancellationToken ct)
    {
        var total = await db.Database
            .SqlQuery<int>($"SELECT COUNT(*) AS Value FROM ProductSearch WHERE ProductSearch MATCH {match}")
            .SingleAsync(ct);
        var ids = await db.Database
            .SqlQuery<Guid>($"""
                SELECT ProductId AS Value FROM ProductSearch WHERE ProductSearch MATCH {match}
                ORDER BY rank, Name LIMIT {pageSize} OFFSET {(page - 1) * pageSize}
                """)
            .ToListAsync(ct);
        var products = await db.Products.AsNoTracking().Where(p => ids.Contains(p.Id)).ToDictionaryAsync(p => p.Id, ct);
        return ([.. ids.Where(products.ContainsKey).Select(id => products[id])], total);
    }

    [GeneratedRegex(@"[\p{L}\p{N}]+")]
    private static partial Regex Word();
}
