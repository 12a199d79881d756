using Mercato.Catalog.Data;
using Mercato.ServiceDefaults.Auth;
using Mercato.ServiceDefaults.Data;
using Mercato.ServiceDefaults.Http;
using System.Globalization;
using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Microsoft.Net.Http.Headers;
using Microsoft.Extensions.Options;
using System.ComponentModel.DataAnnotations;

namespace Mercato.Catalog;

public sealed record ProductResponse(Guid Id, string Name, string Description, decimal Price, int Version)
{
    public static ProductResponse From(Product p) => new(p.Id, p.Name, p.Description, p.Price, p.Version);
}

/// <summary>Catalog settings (section "Catalog").</summary>
public sealed class CatalogOptions
{
    /// <summary>How long a shared cache (the gateway) may answer a catalog read without asking; 0: never.</summary>
    [Range(0, int.MaxValue, ErrorMessage = "Catalog:SharedCacheSeconds must be from {1} to {2}.")]
    public int SharedCacheSeconds { get; set; } = 10;

    /// <summary>Fills an empty catalog with the demo products at start; the production overlay turns it off.</summary>
    public bool SeedDemoProducts { get; set; } = true;

    /// <summary>
    /// Bytes of cached answers this instance keeps in memory (what they take serialized). Search terms and pages come
    /// from callers, so without a bound anyone could fill the memory with distinct queries.
    /// </summary>
    [Range(1L, long.MaxValue, ErrorMessage = "Catalog:CacheSizeLimitBytes must be from {1} to {2}.")]
    public long CacheSizeLimitBytes { get; set; } = 16L * 1024 * 1024;
}

public sealed record ProductPage(IReadOnlyList<ProductResponse> Items, int Total, int Page, int PageSize);

public sealed record ProductRequest(string? Name, string? Description, decimal? Price);

public static class ProductEndpoints
{
    public const int MaxPageSize = 100;
    public const int DefaultPageSize = 20;

    private static readonly string[] HeadOnly = [HttpMethods.Head];

    public static void MapProductEndpoints(this WebApplication app)
    {
        var products = app.MapGroup("/api/catalog/products").WithTags("Catalog");
        products.MapGet("/", ListAsync).AllowAnonymous().Produces<ProductPage>();
        products.MapGet("/{id}", GetAsync).AllowAnonymous().Produces<ProductResponse>().ProducesProblem(StatusCodes.Status404NotFound);
        // HEAD too: the gateway lets anonymous callers send it, and minimal APIs do not answer it for a GET. Not in the
        // document, where it would be described with the GET's bodies; README says the reads take it.
        products.MapMethods("/", HeadOnly, ListAsync).AllowAnonymous().ExcludeFromDescription();
        products.MapMethods("/{id}", HeadOnly, GetAsync).AllowAnonymous().ExcludeFromDescription();
        products.MapPost("/", CreateAsync).RequireAuthorization(MercatoAuth.AdminPolicy).Produces<ProductResponse>(StatusCodes.Status201Created)
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity);
        products.MapPut("/{id}", UpdateAsync).RequireAuthorization(MercatoAuth.AdminPolicy)
            .Produces<ProductResponse>().ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict).ProducesProblem(StatusCodes.Status412PreconditionFailed);
    }

    private static async Task<IResult> ListAsync(string? q, int? page, int? pageSize, string[]? ids, IProductSearch search, CatalogCache cache,
        HttpResponse response, IOptions<CatalogOptions> options, CancellationToken ct)
    {
        if (ids is { Length: > 0 })
        {
            return await ListByIdsAsync(ids, q is not null || page is not null || pageSize is not null, cache, response, options.Value, ct);
        }
        var errors = Paging.Problems(page, pageSize, MaxPageSize);
        if (q is { Length: > 200 })
        {
            errors["q"] = ["At most 200 characters."];
        }
        if (errors.Count > 0)
        {
            return Results.ValidationProblem(errors);
        }
        int p = page ?? 1, size = pageSize ?? DefaultPageSize;
        var words = SearchTerms.Words(q);
        var result = await cache.GetOrLoadAsync(
            $"products:{string.Join(' ', words)}:{p}:{size}",
            async (db, token) =>
            {
                var (items, total) = words.Count == 0
                    ? (await db.Products.AsNoTracking().OrderBy(x => x.Name).ThenBy(x => x.Id).Skip((p - 1) * size).Take(size).ToListAsync(token),
                        await db.Products.CountAsync(token))
                    : await search.SearchAsync(db, words, p, size, token);
                return new ProductPage([.. items.Select(ProductResponse.From)], total, p, size);
            },
            ct);
        AllowSharedCaching(response, options.Value);
        return Results.Ok(result);
    }

    /// <summary>
    /// <c>?ids=a,b</c> (or <c>?ids=a&amp;ids=b</c>): the products with these ids that exist, in the order asked, each id
    /// once; ids the catalog does not have are left out. What a caller pricing several products asks in one call.
    /// </summary>
    private static async Task<IResult> ListByIdsAsync(string[] values, bool withPaging, CatalogCache cache,
        HttpResponse response, CatalogOptions options, CancellationToken ct)
    {
        var ids = new List<Guid>();
        string? problem = withPaging ? "Cannot be combined with q, page or pageSize." : null;
        foreach (var value in values.SelectMany(v => v.Split(',', StringSplitOptions.TrimEntries)))
        {
            if (problem is not null)
            {
                break;
            }
            if (!Guid.TryParse(value, out var id) || id == Guid.Empty)
            {
                problem = $"'{(value.Length > 40 ? value[..40] + "…" : value)}' is not a product id.";
            }
            else if (!ids.Contains(id))
            {
                ids.Add(id);
            }
        }
        if (problem is null && ids.Count > MaxPageSize)
        {
            problem = $"At most {MaxPageSize} ids.";
        }
        if (problem is not null)
        {
            return Results.ValidationProblem(new Dictionary<string, string[]> { ["ids"] = [problem] });
        }
        var found = new List<ProductResponse>(ids.Count);
        foreach (var id in ids)
        {
            if (await FindAsync(id, cache, ct) is { } product)
            {
                found.Add(product);
            }
        }
        AllowSharedCaching(response, options);
        return Results.Ok(new ProductPage(found, found.Count, 1, ids.Count));
    }

    private static async ValueTask<ProductResponse?> FindAsync(Guid id, CatalogCache cache, CancellationToken ct)
    {
        var key = $"product:{id}";
        var product = await cache.GetOrLoadAsync(
            key,
            async (db, token) => await db.Products.AsNoTracking().Where(x => x.Id == id).Select(x => ProductResponse.From(x)).SingleOrDefaultAsync(token),
            ct);
        if (product is null)
        {
            // Misses are not kept: ids come from callers, and a kept miss costs the cache far more than its few bytes.
            await cache.RemoveAsync(key, ct);
        }
        return product;
    }

    private static async Task<IResult> GetAsync(Guid id, CatalogCache cache, HttpResponse response, IOptions<CatalogOptions> options, CancellationToken ct)
    {
        var product = await FindAsync(id, cache, ct);
        if (product is null)
        {
            return NotFound(id);
        }
        AllowSharedCaching(response, options.Value);
        response.Headers.ETag = ETagOf(product.Version);
        return Results.Ok(product);
    }

    /// <summary>
    /// Shared caches (the gateway) may keep a catalog read for a few seconds; browsers ask again every time. Writes through
    /// the gateway drop its copies at once, so the few seconds matter only for writes made elsewhere.
    /// </summary>
    private static void AllowSharedCaching(HttpResponse response, CatalogOptions options)
    {
        if (options.SharedCacheSeconds > 0)
        {
            response.Headers.CacheControl = $"public, max-age=0, s-maxage={options.SharedCacheSeconds}";
        }
    }

    /// <summary>
    /// Creates a product. With an <c>Idempotency-Key</c> (optional here; an admin tool or a script retrying a create
    /// whose answer it lost sends one) the key's first create is the only one: the same key with the same product
    /// answers that product again (201, <c>Idempotent-Replayed: true</c>), with a different product 422. Keys are the
    /// admin's own, and kept as long as the products they made.
    /// </summary>
    private static async Task<IResult> CreateAsync(ProductRequest request, [FromHeader(Name = IdempotencyKeyHeader.Name)] string? idempotencyKey,
        ClaimsPrincipal user, CatalogDb db, CatalogCache cache, TimeProvider time, HttpRequest http, HttpResponse response, CancellationToken ct)
    {
        var errors = Validate(request);
        // Binding takes an empty header for none; the client meant to send a key, so the create must not go ahead unguarded.
        if (idempotencyKey is null && http.Headers.ContainsKey(IdempotencyKeyHeader.Name))
        {
            idempotencyKey = "";
        }
        if (idempotencyKey is not null && IdempotencyKeyHeader.Problem(idempotencyKey) is { } keyProblem)
        {
            errors[IdempotencyKeyHeader.Name] = [keyProblem];
        }
        if (errors.Count > 0)
        {
            return Results.ValidationProblem(errors);
        }
        ProductCreation? creation = null;
        if (idempotencyKey is not null)
        {
            creation = new ProductCreation
            {
                AdminId = Guid.Parse(user.FindFirstValue(MercatoAuth.SubjectClaim)!),
                Key = idempotencyKey,
                RequestHash = Fingerprint(request),
            };
            if (await CreatedBeforeAsync(db, creation, response, ct) is { } replay)
            {
                return replay;
            }
        }
        var now = time.GetUtcNow();
        var product = new Product
        {
            Id = Guid.CreateVersion7(),
            Name = request.Name!.Trim(),
            Description = request.Description?.Trim() ?? "",
            Price = request.Price!.Value,
            CreatedAt = now,
            UpdatedAt = now,
        };
        db.Products.Add(product);
        if (creation is not null)
        {
            creation.ProductId = product.Id;
            db.ProductCreations.Add(creation);
        }
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException ex) when (creation is not null && DatabaseErrors.IsUniqueViolation(ex))
        {
            // The same key raced in from a concurrent request and won; nothing of this one was written.
            db.ChangeTracker.Clear();
            if (await CreatedBeforeAsync(db, creation, response, ct) is { } winner)
            {
                return winner;
            }
            throw;
        }
        await cache.InvalidateAsync(ct);
        response.Headers.ETag = ETagOf(product.Version);
        return Results.Created($"/api/catalog/products/{product.Id}", ProductResponse.From(product));
    }

    /// <summary>The answer for a key that already created a product (as it is now), or null for a new key.</summary>
    private static async Task<IResult?> CreatedBeforeAsync(CatalogDb db, ProductCreation creation, HttpResponse response, CancellationToken ct)
    {
        var known = await db.ProductCreations.AsNoTracking()
            .SingleOrDefaultAsync(c => c.AdminId == creation.AdminId && c.Key == creation.Key, ct);
        if (known is null)
        {
            return null;
        }
        if (known.RequestHash != creation.RequestHash)
        {
            return IdempotencyKeyHeader.Reused($"Already used to create product {known.ProductId} with a different name, description or price. A new product needs a new key.");
        }
        var product = await db.Products.AsNoTracking().SingleAsync(p => p.Id == known.ProductId, ct);
        response.Headers.ETag = ETagOf(product.Version);
        IdempotencyKeyHeader.MarkReplayed(response);
        return Results.Created($"/api/catalog/products/{product.Id}", ProductResponse.From(product));
    }

    /// <summary>What a create asked for, as stored: trimmed as the product is, the price at its two decimals.</summary>
    private static string Fingerprint(ProductRequest request) => IdempotencyKeyHeader.RequestHash(JsonSerializer.Serialize(new[]
    {
        request.Name!.Trim(), request.Description?.Trim() ?? "", request.Price!.Value.ToString("0.00", CultureInfo.InvariantCulture),
    }));

    /// <summary>
    /// Replaces a product. With <c>If-Match</c> (the ETag of a read) only over that version, else 412: an admin who read
    /// the product cannot silently undo a change made since. Without it, the last writer wins, as before. A write that
    /// loses a race with another between its read and its commit is never a lost update: 412 with If-Match, else 409.
    /// </summary>
    private static async Task<IResult> UpdateAsync(Guid id, ProductRequest request, CatalogDb db, CatalogCache cache, TimeProvider time,
        HttpRequest http, HttpResponse response, CancellationToken ct)
    {
        var errors = Validate(request);
        var ifMatch = IfMatch(http);
        if (ifMatch is null)
        {
            errors[HeaderNames.IfMatch] = ["Entity tags as the ETag header gave them, like \"3\", or *."];
        }
        if (errors.Count > 0 || ifMatch is null)
        {
            return Results.ValidationProblem(errors);
        }
        var product = await db.Products.SingleOrDefaultAsync(x => x.Id == id, ct);
        if (product is null)
        {
            // RFC 9110: a condition on a product that does not exist is false.
            return !ifMatch.Given ? NotFound(id)
                : Results.Problem(statusCode: StatusCodes.Status412PreconditionFailed, title: "No such product",
                    detail: $"No product with id {id} to match If-Match.", extensions: new Dictionary<string, object?> { ["field"] = HeaderNames.IfMatch });
        }
        if (ifMatch.Versions is { } versions && !versions.Contains(product.Version))
        {
            return Changed(product.Version, response);
        }
        product.Name = request.Name!.Trim();
        product.Description = request.Description?.Trim() ?? "";
        product.Price = request.Price!.Value;
        product.UpdatedAt = time.GetUtcNow();
        product.Version++;
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateConcurrencyException)
        {
            var now = await db.Products.AsNoTracking().Where(x => x.Id == id).Select(x => (int?)x.Version).SingleOrDefaultAsync(ct);
            return now is null ? NotFound(id)
                : ifMatch.Versions is not null ? Changed(now.Value, response)
                : Results.Problem(statusCode: StatusCodes.Status409Conflict, title: "Product changed meanwhile",
                    detail: "Another update of this product committed while this one was being made; nothing was changed. Read it and try again.");
        }
        await cache.InvalidateAsync(ct);
        response.Headers.ETag = ETagOf(product.Version);
        return Results.Ok(ProductResponse.From(product));
    }

    public static string ETagOf(int version) => $"\"{version.ToString(CultureInfo.InvariantCulture)}\"";

    private static IResult Changed(int current, HttpResponse response)
    {
        response.Headers.ETag = ETagOf(current);
        return Results.Problem(statusCode: StatusCodes.Status412PreconditionFailed, title: "Product changed",
            detail: $"The product was changed since that version was read; it is now {ETagOf(current)}. Nothing was changed.",
            extensions: new Dictionary<string, object?> { ["field"] = HeaderNames.IfMatch, ["etag"] = ETagOf(current) });
    }

    /// <summary>
    /// An If-Match header: whether one was given, and the versions it names; <c>Versions</c> is null when any version
    /// will do (no header, or <c>*</c>).
    /// </summary>
    private sealed record IfMatchCondition(bool Given, IReadOnlySet<int>? Versions);

    /// <summary>
    /// RFC 9110 If-Match: <c>*</c>, or entity tags. A weak tag, or a strong one that is no version of ours, never matches
    /// (strong comparison), so it names no version. Null when the header is not a list of entity tags.
    /// </summary>
    private static IfMatchCondition? IfMatch(HttpRequest http)
    {
        var values = http.Headers.IfMatch;
        if (values.Count == 0)
        {
            return new IfMatchCondition(false, null);
        }
        if (!EntityTagHeaderValue.TryParseStrictList(values, out var tags) || tags.Count == 0)
        {
            return null;
        }
        if (tags.Any(t => t.Equals(EntityTagHeaderValue.Any)))
        {
            return tags.Count == 1 ? new IfMatchCondition(true, null) : null;
        }
        var versions = new HashSet<int>();
        foreach (var tag in tags)
        {
            if (!tag.IsWeak && int.TryParse(tag.Tag.AsSpan(1, tag.Tag.Length - 2), NumberStyles.None, CultureInfo.InvariantCulture, out var version))
            {
                versions.Add(version);
            }
        }
        return new IfMatchCondition(true, versions);
    }

    private static IResult NotFound(Guid id) =>
        Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Product not found", detail: $"No product with id {id}.");

    private static Dictionary<string, string[]> Validate(ProductRequest request)
    {
        var errors = new Dictionary<string, string[]>();
        if (string.IsNullOrWhiteSpace(request.Name) || request.Name.Trim().Length > Product.NameMaxLength)
        {
            errors["name"] = [$"Required, at most {Product.NameMaxLength} characters."];
        }
        else if (InputText.NameProblem(request.Name) is { } nameProblem)
        {
            errors["name"] = [nameProblem];
        }
        if (request.Description is { Length: > Product.DescriptionMaxLength })
        {
            errors["description"] = [$"At most {Product.DescriptionMaxLength} characters."];
        }
        else if (request.Description is not null && !InputText.IsClean(request.Description, multiline: true))
        {
            errors["description"] = [InputText.Refusal];
        }
        if (request.Price is not { } price || price <= 0 || price > 1_000_000 || decimal.Round(price, 2) != price)
        {
            errors["price"] = ["Required, greater than 0, at most 1000000, with at most 2 decimals."];
        }
        return errors;
    }
}
