using Mercato.Inventory;
using Mercato.Inventory.Data;
using Mercato.ServiceDefaults;
using Mercato.Contracts;
using Mercato.ServiceDefaults.Data;
using Mercato.ServiceDefaults.Messaging;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddMessaging<InventoryDb>("inventory", routes => routes
    .Send<StockReserved>("ordering", "analytics")
    .Send<StockReservationFailed>("ordering", "analytics"));
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddHttpClient<CatalogClient>(http => http.BaseAddress = new Uri(builder.Configuration["Inventory:CatalogUrl"] ?? "http://catalog"));

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapStockEndpoints();
app.MapDeadLetterEndpoints("/api/inventory");

await app.MigrateDatabaseAsync<InventoryDb>();
await app.RunAsync();

public partial class Program;
