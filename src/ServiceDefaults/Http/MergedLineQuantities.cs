namespace Mercato.ServiceDefaults.Http;

/// <summary>
/// Lines of one product in a basket or an order are merged into one, so their sum obeys the limit a single line does;
/// otherwise 50 lines of 1,000 would make one of 50,000.
/// </summary>
public static class MergedLineQuantities
{
    /// <summary>Names <c>items[i].quantity</c>, i the last line of each product whose lines add up past <paramref name="max"/>.</summary>
    public static void Check<TLine>(IReadOnlyList<TLine> items, Func<TLine, Guid?> product, Func<TLine, int?> quantity, int max, IDictionary<string, string[]> errors)
    {
        foreach (var lines in items.Index().GroupBy(line => product(line.Item)).Where(g => g.Sum(line => quantity(line.Item) ?? 0) > max))
        {
            errors[$"items[{lines.Last().Index}].quantity"] = [$"The lines of this product add up to more than {max}."];
        }
    }
}
