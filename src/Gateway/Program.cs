using Mercato.Gateway;
using Mercato.ServiceDefaults;
using Mercato.ServiceDefaults.Data;
using Mercato.ServiceDefaults.Discovery;
using Yarp.ReverseProxy.Configuration;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.Services.Configure<GatewayOptions>(builder.Configuration.GetSection(GatewayOptions.SectionName));
builder.Services.AddReverseProxy()
    .LoadFromMemory([], [])
    .AddTransforms(ProxyPipeline.AddUserContext);
builder.Services.AddEdgeRateLimits();
builder.Services.AddMemoryCache();
builder.Services.Configure<HomeOptions>(builder.Configuration.GetSection(HomeOptions.SectionName));
builder.Services.AddHttpClient<HomePage>();
builder.Services.AddSingleton<RegistryRouteSync>();
builder.Services.AddHostedService(sp => sp.GetRequiredService<RegistryRouteSync>());
builder.Services.AddHealthChecks().AddCheck<RegistryRouteSync>("routes", tags: [HealthTags.Ready]);
if (builder.Configuration["Registry:Url"] is null)
{
    throw new InvalidOperationException("The gateway routes through the registry: set Registry:Url.");
}

var app = builder.Build();
app.MapDefaultEndpoints(guardUserHeaders: false);
app.UseRateLimiter();
app.MapGet("/api/home", (HttpContext context, HomePage home, CancellationToken ct) => home.BuildAsync(context, ct))
    .RequireAuthorization()
    .WithTags("Home");
app.MapReverseProxy(proxy =>
{
    proxy.Use(ProxyPipeline.ExplainUnavailableService);
    proxy.Use(ProxyPipeline.RetryOnUnreachableDestination);
    proxy.Use(ProxyPipeline.RouteByVersion);
    proxy.UseSessionAffinity();
    proxy.UseLoadBalancing();
    proxy.UsePassiveHealthChecks();
});
app.Run();

public partial class Program;
