using Mercato.AppHost;

var builder = DistributedApplication.CreateBuilder(args);
var settings = MercatoSettings.From(builder);

var registry = builder.AddProject<Projects.Mercato_Registry>("registry", o => o.ExcludeLaunchProfile = true)
    .WithHttpEndpoint(port: settings.RegistryPort, isProxied: false)
    .WithHttpHealthCheck("/health/ready");
var registryUrl = registry.GetEndpoint("http");
registry.WithMercatoEnvironment(settings, registryUrl, "registry")
    // The control plane's policy document survives a registry restart.
    .WithEnvironment("ControlPlane__StateFile", Path.Combine(settings.DataDir, "registry", "policies.json"));

builder.AddProject<Projects.Mercato_Gateway>("gateway", o => o.ExcludeLaunchProfile = true)
    .WithHttpEndpoint(port: settings.GatewayPort, isProxied: false)
    .WithHttpHealthCheck("/health/ready")
    .WithMercatoEnvironment(settings, registryUrl, "gateway")
    .WaitFor(registry);

ScaleOutServers? servers = null;
if (settings.Profile == HostingProfile.ScaleOut)
{
    servers = new ScaleOutServers(settings);
    await servers.ProvisionAsync();
}

void AddService<TProject>(string name, bool messaging = false, Action<IResourceBuilder<ProjectResource>>? configure = null)
    where TProject : IProjectMetadata, new() =>
    builder.AddMercatoService<TProject>(name, settings, registry, instance =>
    {
        instance.WithScaleOutServers(servers, name);
        if (messaging)
        {
            instance.WithMessaging(settings, name);
        }
        configure?.Invoke(instance);
    });

AddService<Projects.Mercato_Identity>("identity", configure: identity => identity.WithEnvironment("Identity__AdminPassword", settings.AdminPassword));
AddService<Projects.Mercato_Catalog>("catalog");
AddService<Projects.Mercato_Inventory>("inventory", messaging: true);
AddService<Projects.Mercato_Payment>("payment", messaging: true);
AddService<Projects.Mercato_Basket>("basket");
AddService<Projects.Mercato_Notification>("notification", messaging: true);
AddService<Projects.Mercato_Analytics>("analytics", messaging: true);
AddService<Projects.Mercato_Ordering>("ordering", messaging: true, configure: ordering =>
{
    if (settings.OrderStepTimeout is { } stepTimeout)
    {
        ordering.WithEnvironment("Ordering__StepTimeout", stepTimeout);
    }
});

Console.WriteLine($"""
    Mercato is starting.
      Storefront API (gateway): http://localhost:{settings.GatewayPort}
      Ops console:              http://localhost:{settings.GatewayPort}/ops (admin)
      API reference:            http://localhost:{settings.GatewayPort}/scalar/
      Aspire dashboard:         {builder.Configuration["ASPNETCORE_URLS"]?.Split(';')[0] ?? "http://localhost:18888"}
      Registry:                 http://localhost:{settings.RegistryPort}/api/registry/services (admin)
      Control plane policies:   http://localhost:{settings.GatewayPort}/api/registry/policies (admin; PUT to change)
      Dev admin login:          admin@mercato.local / {(settings.AdminPassword == MercatoSettings.DevelopmentAdminPassword ? settings.AdminPassword : "(from Mercato:AdminPassword)")}
      Profile:                  {(settings.Profile == HostingProfile.ScaleOut
          ? $"scale-out: PostgreSQL databases {settings.InstanceName}_*, RabbitMQ {new Uri(settings.RabbitMq).Host}"
          : $"embedded: SQLite files in {settings.DataDir}")}
      Replicas:                 {(settings.Replicas.Count == 0 ? "one instance of each service (--replicas catalog=3,ordering=2)" : string.Join(", ", settings.Replicas.Select(r => $"{r.Key}={r.Value}")))}
      Order saga style:         {settings.SagaStyle} (--Mercato:SagaStyle=Orchestration|Choreography)
    Ctrl+C stops everything.
    """);

builder.Build().Run();
