namespace Mercato.ServiceDefaults.Http;

/// <summary>The <c>page</c> and <c>pageSize</c> query parameters every list takes, checked the same way everywhere.</summary>
public static class Paging
{
    public const int MaxPage = 1_000_000;

    /// <summary>The response header a paged list puts the number of all matching items in, over all pages.</summary>
    public const string TotalCountHeader = "X-Total-Count";

    /// <summary>The problems with <paramref name="page"/> and <paramref name="pageSize"/>, named by parameter; empty when both are fine.</summary>
    public static Dictionary<string, string[]> Problems(int? page, int? pageSize, int maxPageSize)
    {
        var errors = new Dictionary<string, string[]>();
        if (page is < 1 or > MaxPage)
        {
            errors["page"] = [$"Must be between 1 and {MaxPage}."];
        }
        if (pageSize is < 1 || pageSize > maxPageSize)
        {
            errors["pageSize"] = [$"Must be between 1 and {maxPageSize}."];
        }
        return errors;
    }
}
