using Mercato.Inventory;
using Mercato.Inventory.Data;
using Mercato.ServiceDefaults;
using Mercato.ServiceDefaults.Data;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddServiceDatabase<InventoryDb>("inventory");
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddHttpClient<CatalogClient>(http => http.BaseAddress = new Uri(builder.Configuration["Inventory:CatalogUrl"] ?? "http://catalog"));

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapStockEndpoints();

await app.MigrateDatabaseAsync<InventoryDb>();
await app.RunAsync();

public partial class Program;
