using Mercato.Analytics;
using Mercato.Analytics.Data;
using Mercato.ServiceDefaults;
using Mercato.ServiceDefaults.Data;
using Mercato.ServiceDefaults.Messaging;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddMessaging<AnalyticsDb>("analytics");

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapAnalyticsEndpoints();
app.MapDeadLetterEndpoints("/api/analytics");

await app.MigrateDatabaseAsync<AnalyticsDb>();
await app.RunAsync();

public partial class Program;
