using Mercato.Registry;
using Mercato.ServiceDefaults;
using Mercato.ServiceDefaults.Configuration;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.Services.AddValidatedSettings<RegistryServerOptions>(builder.Configuration.GetSection(RegistryServerOptions.SectionName));
builder.Services.AddSingleton<ServiceRegistry>();
builder.Services.AddSingleton<PolicyRepository>();
builder.Services.AddSingleton<HealthProber>();
builder.Services.AddHostedService(services => services.GetRequiredService<HealthProber>());

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapRegistryEndpoints();
app.MapControlPlaneEndpoints();
app.Run();

public partial class Program;
