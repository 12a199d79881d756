using Mercato.Basket;
using Mercato.Basket.Data;
using Mercato.ServiceDefaults;
using Mercato.ServiceDefaults.Data;
using Mercato.ServiceDefaults.Configuration;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddServiceDatabase<BasketDb>("basket");
builder.Services.AddHttpClient<CatalogClient>(http => http.BaseAddress = new Uri(builder.Configuration["Basket:CatalogUrl"] ?? "http://catalog"));
builder.Services.AddHttpClient<OrderingClient>(http => http.BaseAddress = new Uri(builder.Configuration["Basket:OrderingUrl"] ?? "http://ordering"));
builder.Services.AddValidatedSettings<CheckoutRetentionOptions>(builder.Configuration.GetSection("Basket"));
builder.Services.AddHostedService<CheckoutRetention>();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapBasketEndpoints();

await app.MigrateDatabaseAsync<BasketDb>();
await app.RunAsync();

public partial class Program;
