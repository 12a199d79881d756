using Yarp.ReverseProxy.Configuration;
var builder = WebApplication.CreateBuilder(args);
builder.Logging.ClearProviders();
builder.Services.AddReverseProxy().LoadFromMemory(
    [new RouteConfig { RouteId = "all", ClusterId = "c", Match = new RouteMatch { Path = "{**rest}" } }],
    [new ClusterConfig { ClusterId = "c", Destinations = new Dictionary<string, DestinationConfig> { ["d"] = new() { Address = builder.Configuration["Upstream"]! } } }]);
var app = builder.Build();
app.MapReverseProxy();
app.Run();
