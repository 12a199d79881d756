using Mercato.Contracts;
using Mercato.Ordering;
using Mercato.Ordering.Data;
using Mercato.ServiceDefaults;
using Mercato.ServiceDefaults.Data;
using Mercato.ServiceDefaults.Messaging;
using Mercato.ServiceDefaults.Configuration;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
if (SagaStyles.From(builder.Configuration) == SagaStyle.Orchestration)
{
    builder.AddMessaging<OrderingDb>("ordering", routes => routes
        .WithoutHandler(typeof(OrderChoreographyHandler))
        .Send<CapturePayment>("payment")
        .Send<RefundPayment>("payment")
        .Send<ReserveStock>("inventory")
        .Send<ReleaseStock>("inventory")
        .Send<CommitStock>("inventory")
        .Send<OrderConfirmed>("notification", "analytics")
        .Send<OrderCancelled>("notification", "analytics"), codeVariant: nameof(SagaStyle.Orchestration));
    builder.Services.AddSingleton<IOrderFlow, OrchestratedOrderFlow>();
}
else
{
    builder.AddMessaging<OrderingDb>("ordering", routes => routes
        .WithoutHandler(typeof(OrderSaga))
        .Send<OrderSubmitted>("payment", "inventory", "analytics")
        .Send<OrderConfirmed>("inventory", "notification", "analytics")
        .Send<OrderCancelled>("payment", "inventory", "notification", "analytics"), codeVariant: nameof(SagaStyle.Choreography));
    builder.Services.AddSingleton<IOrderFlow, ChoreographedOrderFlow>();
}
builder.Services.AddValidatedSettings<OrderingOptions>(builder.Configuration.GetSection("Ordering"));
builder.Services.AddScoped<OrderEventStore>();
builder.Services.AddValidatedSettings<HeldReadLimits>(builder.Configuration.GetSection("Ordering:HeldReads"));
builder.Services.AddSingleton<OrderChanges>();
builder.Services.AddSingleton<OrderChangeNotifier>();
builder.Services.ConfigureDbContext<OrderingDb>((services, options) => options.AddInterceptors(services.GetRequiredService<OrderChangeNotifier>()));
builder.Services.AddSingleton<OrderMetrics>();
builder.Services.AddHttpClient<CatalogClient>(http => http.BaseAddress = new Uri(builder.Configuration["Ordering:CatalogUrl"] ?? "http://catalog"));
builder.Services.AddHttpClient<PaymentClient>(http => http.BaseAddress = new Uri(builder.Configuration["Ordering:PaymentUrl"] ?? "http://payment"));

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapOrderEndpoints();
app.MapDeadLetterEndpoints("/api/orders");

await app.MigrateDatabaseAsync<OrderingDb>();
if (args.Contains("rebuild-projections"))
{
    // dotnet run --project src/Services/Ordering -- rebuild-projections
    await using var scope = app.Services.CreateAsyncScope();
    var rebuilt = await OrderEventStore.RebuildProjectionsAsync(scope.ServiceProvider.GetRequiredService<OrderingDb>());
    Console.WriteLine($"Rebuilt the projections of {rebuilt} order(s) from their events.");
    return;
}
await app.RunAsync();

public partial class Program;
