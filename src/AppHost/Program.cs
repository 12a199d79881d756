using Mercato.AppHost;

var builder = DistributedApplication.CreateBuilder(args);
var settings = MercatoSettings.From(builder);

var registry = builder.AddProject<Projects.Mercato_Registry>("registry", o => o.ExcludeLaunchProfile = true)
    .WithHttpEndpoint(port: settings.RegistryPort, isProxied: false)
    .WithHttpHealthCheck("/health/ready");
var registryUrl = registry.GetEndpoint("http");
registry.WithMercatoEnvironment(settings, registryUrl, "registry");

builder.AddProject<Projects.Mercato_Gateway>("gateway", o => o.ExcludeLaunchProfile = true)
    .WithHttpEndpoint(port: settings.GatewayPort, isProxied: false)
    .WithHttpHealthCheck("/health/ready")
    .WithMercatoEnvironment(settings, registryUrl, "gateway")
    .WaitFor(registry);

builder.AddMercatoService<Projects.Mercato_Identity>("identity", settings, registry)
    .WithEnvironment("Identity__AdminPassword", settings.AdminPassword);
builder.AddMercatoService<Projects.Mercato_Catalog>("catalog", settings, registry);
builder.AddMercatoService<Projects.Mercato_Inventory>("inventory", settings, registry).WithMessaging(settings, "inventory");
builder.AddMercatoService<Projects.Mercato_Payment>("payment", settings, registry).WithMessaging(settings, "payment");
builder.AddMercatoService<Projects.Mercato_Basket>("basket", settings, registry);
builder.AddMercatoService<Projects.Mercato_Notification>("notification", settings, registry).WithMessaging(settings, "notification");
builder.AddMercatoService<Projects.Mercato_Analytics>("analytics", settings, registry).WithMessaging(settings, "analytics");
var ordering = builder.AddMercatoService<Projects.Mercato_Ordering>("ordering", settings, registry).WithMessaging(settings, "ordering");
if (settings.OrderStepTimeout is { } stepTimeout)
{
    ordering.WithEnvironment("Ordering__StepTimeout", stepTimeout);
}

Console.WriteLine($"""
    Mercato is starting.
      Storefront API (gateway): http://localhost:{settings.GatewayPort}
      Aspire dashboard:         {builder.Configuration["ASPNETCORE_URLS"]?.Split(';')[0] ?? "http://localhost:18888"}
      Registry:                 http://localhost:{settings.RegistryPort}/api/registry/services (admin)
      Dev admin login:          admin@mercato.local / {(settings.AdminPassword == MercatoSettings.DevelopmentAdminPassword ? settings.AdminPassword : "(from Mercato:AdminPassword)")}
      Data:                     {settings.DataDir}
      Order saga style:         {settings.SagaStyle} (--Mercato:SagaStyle=Orchestration|Choreography)
    Ctrl+C stops everything.
    """);

builder.Build().Run();
