using Mercato.Catalog;
using Mercato.Catalog.Data;
using Mercato.ServiceDefaults;
using Mercato.ServiceDefaults.Data;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using Mercato.ServiceDefaults.Configuration;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddServiceDatabase<CatalogDb>("catalog");
builder.Services.AddSingleton<IProductSearch>(DeploymentProfiles.From(builder.Configuration) == DeploymentProfile.ScaleOut
    ? new PostgresProductSearch()
    : new Fts5ProductSearch());
builder.Services.AddValidatedSettings<CatalogOptions>(builder.Configuration.GetSection("Catalog"));
// The cache's in-memory level counts each answer by its serialized size (HybridCache sets it), against this bound.
builder.Services.AddOptions<MemoryCacheOptions>()
    .Configure<IOptions<CatalogOptions>>((cache, catalog) => cache.SizeLimit = catalog.Value.CacheSizeLimitBytes);
// Reads are cached per instance; writes clear this instance's cache at once, other instances within the expiry.
builder.Services.AddHybridCache(options => options.DefaultEntryOptions = new HybridCacheEntryOptions
{
    Expiration = TimeSpan.FromSeconds(30),
    LocalCacheExpiration = TimeSpan.FromSeconds(30),
});
builder.Services.AddSingleton<CatalogCache>();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapProductEndpoints();

await app.MigrateDatabaseAsync<CatalogDb>();
if (app.Services.GetRequiredService<IOptions<CatalogOptions>>().Value.SeedDemoProducts)
{
    await using var scope = app.Services.CreateAsyncScope();
    await CatalogSeed.SeedAsync(scope.ServiceProvider.GetRequiredService<CatalogDb>(), TimeProvider.System);
}
await app.RunAsync();

public partial class Program;
