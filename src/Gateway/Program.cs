using System.Text;
using Mercato.Gateway;
using Mercato.ServiceDefaults;
using Mercato.ServiceDefaults.Data;
using Mercato.ServiceDefaults.Discovery;
using Mercato.ServiceDefaults.Telemetry;
using Yarp.ReverseProxy.Configuration;
using Mercato.ServiceDefaults.Configuration;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.Services.StartTracesAtTheEdge();
builder.Services.AddValidatedSettings<GatewayOptions>(builder.Configuration.GetSection(GatewayOptions.SectionName));
var gateway = builder.Configuration.GetSection(GatewayOptions.SectionName).Get<GatewayOptions>() ?? new GatewayOptions();
if (gateway.ResponseCache.Enabled)
{
    SharedResponseCache.AddTo(builder.Services, gateway);
}
builder.Services.AddReverseProxy()
    .LoadFromMemory([], [])
    // Kestrel takes request header values as ASCII or UTF-8, and so do the services behind the gateway; the forwarding
    // client sends ASCII only by default and failed such a request with 502 before it reached the service.
    .ConfigureHttpClient((_, handler) => handler.RequestHeaderEncodingSelector = (_, _) => Encoding.UTF8)
    .AddTransforms(ProxyPipeline.AddUserContext)
    .AddTransforms(SharedResponseCache.AddLifetimeTransform);
if (gateway.ApiReference)
{
    ApiReference.AddTo(builder.Services, gateway);
}
builder.Services.AddEdgeRateLimits();
builder.Services.AddMemoryCache();
builder.Services.AddValidatedSettings<HomeOptions>(builder.Configuration.GetSection(HomeOptions.SectionName));
builder.Services.AddHttpClient<HomePage>();
var routesFromRegistry = gateway.StaticDestinations.Count == 0;
if (routesFromRegistry)
{
    if (builder.Configuration["Registry:Url"] is null)
    {
        throw new InvalidOperationException("Set Registry:Url to route through the registry, or Gateway:StaticDestinations to route by DNS.");
    }
    builder.Services.AddSingleton<RegistryRouteSync>();
    builder.Services.AddHostedService(sp => sp.GetRequiredService<RegistryRouteSync>());
    builder.Services.AddHealthChecks().AddCheck<RegistryRouteSync>("routes", tags: [HealthTags.Ready]);
}

var app = builder.Build();
// The storefront (/) and the ops console (/ops): static pages calling the same public API, served before auth,
// rate limits and fault injection so the pages themselves always load; what they show is guarded by the API.
app.UseDefaultFiles();
app.UseStaticFiles(new StaticFileOptions
{
    // No other site may frame the pages (a signed-in admin's ops console clicked through a decoy), and no file is read
    // as another type than it is served as.
    OnPrepareResponse = file =>
    {
        var headers = file.Context.Response.Headers;
        headers.XFrameOptions = "DENY";
        headers.ContentSecurityPolicy = "frame-ancestors 'none'";
        headers.XContentTypeOptions = "nosniff";
    },
});
if (!routesFromRegistry)
{
    StaticRoutes.Load(app.Services.GetRequiredService<InMemoryConfigProvider>(), gateway);
}
app.Use(ClusterOnlyEndpoints.HideFromForwardedCallersAsync);
// Rate limits between authentication and authorization: the bucket is per user once the token is read, and a flood of
// calls with bad or missing tokens is counted, not only turned away with 401/403 at the cost of validating each.
app.MapDefaultEndpoints(guardUserHeaders: false, beforeAuthorization: edge => edge.UseRateLimiter());
if (gateway.ResponseCache.Enabled || gateway.ApiReference)
{
    app.UseOutputCache();
}
app.MapGet("/api/home", (HttpContext context, HomePage home, CancellationToken ct) => home.BuildAsync(context, ct))
    .RequireAuthorization()
    .WithTags("Home");
if (gateway.ApiReference)
{
    ApiReference.Map(app);
}
app.MapReverseProxy(proxy =>
{
    proxy.Use(SharedResponseCache.EvictAfterWriteAsync);
    proxy.Use(ProxyPipeline.ExplainUnavailableService);
    proxy.Use(ProxyPipeline.RetryOnUnreachableDestination);
    proxy.Use(ProxyPipeline.RouteByVersion);
    proxy.UseSessionAffinity();
    proxy.UseLoadBalancing();
    proxy.UsePassiveHealthChecks();
});
app.Run();

public partial class Program;
