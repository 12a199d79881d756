using Mercato.Contracts;
using Mercato.Payment;
using Mercato.Payment.Data;
using Mercato.ServiceDefaults;
using Mercato.ServiceDefaults.Data;
using Mercato.ServiceDefaults.Messaging;
using Mercato.ServiceDefaults.Configuration;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
// Choreography: Inventory reserves when it hears the payment was captured.
var capturedTo = SagaStyles.From(builder.Configuration) == SagaStyle.Choreography ? new[] { "ordering", "inventory", "analytics" } : ["ordering", "analytics"];
builder.AddMessaging<PaymentDb>("payment", routes => routes
    .Send<PaymentCaptured>(capturedTo)
    .Send<PaymentDeclined>("ordering", "analytics")
    .Send<PaymentRefunded>("ordering", "analytics")
    .Send<PaymentVoided>("ordering"));
builder.Services.AddValidatedSettings<PaymentProviderOptions>(builder.Configuration.GetSection("Payment"));
builder.Services.AddSingleton<SimulatedPaymentProvider>();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapPaymentEndpoints();
app.MapDeadLetterEndpoints("/api/payments");

await app.MigrateDatabaseAsync<PaymentDb>();
await app.RunAsync();

public partial class Program;
