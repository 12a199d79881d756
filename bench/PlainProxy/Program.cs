// One route, one destination (--Upstream), YARP's defaults: no authentication, rate limits, version routing,
// telemetry or logging, which the Mercato gateway has.
using Yarp.ReverseProxy.Configuration;

var builder = WebApplication.CreateBuilder(args);
builder.Logging.ClearProviders();
var upstream = builder.Configuration["Upstream"] ?? throw new InvalidOperationException("Pass --Upstream http://host:port.");
builder.Services.AddReverseProxy().LoadFromMemory(
    [new RouteConfig { RouteId = "all", ClusterId = "upstream", Match = new RouteMatch { Path = "{**rest}" } }],
    [new ClusterConfig { ClusterId = "upstream", Destinations = new Dictionary<string, DestinationConfig> { ["upstream"] = new() { Address = upstream } } }]);

var app = builder.Build();
app.MapReverseProxy();
app.Run();
