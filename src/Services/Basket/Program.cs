using Mercato.Basket;
using Mercato.Basket.Data;
using Mercato.ServiceDefaults;
using Mercato.ServiceDefaults.Data;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddServiceDatabase<BasketDb>("basket");
builder.Services.AddHttpClient<CatalogClient>(http => http.BaseAddress = new Uri(builder.Configuration["Basket:CatalogUrl"] ?? "http://catalog"));
builder.Services.AddHttpClient<OrderingClient>(http => http.BaseAddress = new Uri(builder.Configuration["Basket:OrderingUrl"] ?? "http://ordering"));
builder.Services.AddOptions<CheckoutRetentionOptions>().Bind(builder.Configuration.GetSection("Basket"))
    .Validate(o => o.CheckoutRetention > TimeSpan.Zero && o.CheckoutPurgeInterval > TimeSpan.Zero,
        "Basket:CheckoutRetention and Basket:CheckoutPurgeInterval must be greater than zero.")
    .ValidateOnStart();
builder.Services.AddHostedService<CheckoutRetention>();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapBasketEndpoints();

await app.MigrateDatabaseAsync<BasketDb>();
await app.RunAsync();

public partial class Program;
