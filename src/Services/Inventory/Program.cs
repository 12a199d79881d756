using Mercato.Inventory;
using Mercato.Inventory.Data;
using Mercato.ServiceDefaults;
using Mercato.Contracts;
using Mercato.ServiceDefaults.Data;
using Mercato.ServiceDefaults.Messaging;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
// Choreography: Payment refunds by itself when the stock could not be reserved.
var failedTo = SagaStyles.From(builder.Configuration) == SagaStyle.Choreography ? new[] { "ordering", "payment", "analytics" } : ["ordering", "analytics"];
builder.AddMessaging<InventoryDb>("inventory", routes => routes
    .Send<StockReserved>("ordering", "analytics")
    .Send<StockReleased>("ordering")
    .Send<StockReservationFailed>(failedTo));
builder.Services.AddHttpClient<CatalogClient>(http => http.BaseAddress = new Uri(builder.Configuration["Inventory:CatalogUrl"] ?? "http://catalog"));

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapStockEndpoints();
app.MapDeadLetterEndpoints("/api/inventory");

await app.MigrateDatabaseAsync<InventoryDb>();
await app.RunAsync();

public partial class Program;
