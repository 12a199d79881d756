using Mercato.Contracts;
using Mercato.Payment;
using Mercato.Payment.Data;
using Mercato.ServiceDefaults;
using Mercato.ServiceDefaults.Data;
using Mercato.ServiceDefaults.Messaging;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddMessaging<PaymentDb>("payment", routes => routes
    .Send<PaymentCaptured>("ordering", "analytics")
    .Send<PaymentDeclined>("ordering", "analytics")
    .Send<PaymentRefunded>("ordering", "analytics"));
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.Configure<PaymentProviderOptions>(builder.Configuration.GetSection("Payment"));
builder.Services.AddSingleton<SimulatedPaymentProvider>();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapPaymentEndpoints();
app.MapDeadLetterEndpoints("/api/payments");

await app.MigrateDatabaseAsync<PaymentDb>();
await app.RunAsync();

public partial class Program;
