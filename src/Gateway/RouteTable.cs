using Yarp.ReverseProxy.Configuration;

namespace Mercato.Gateway;

/// <summary>An instance the gateway can send a service's requests to.</summary>
public sealed record RouteDestination(string Id, string Address, string Version);

/// <summary>
/// YARP's routes and clusters for a set of services, whatever tells us where they are (the registry, or cluster DNS
/// names from configuration): /api/{service}/... (or the service's configured prefixes) goes to that service's cluster.
/// </summary>
public static class RouteTable
{
    public static IReadOnlyList<RouteConfig> Routes(IEnumerable<string> services, GatewayOptions settings) =>
        [.. services.SelectMany(service => RoutesFor(service, settings))];

    public static IReadOnlyList<ClusterConfig> Clusters(IEnumerable<string> services, IReadOnlyDictionary<string, List<RouteDestination>> destinations) =>
        [.. services.Select(service => ClusterFor(service, destinations.GetValueOrDefault(service, [])))];

    private static IEnumerable<RouteConfig> RoutesFor(string service, GatewayOptions settings)
    {
        var prefixes = settings.PathPrefixes.GetValueOrDefault(service) ?? [$"/api/{service}"];
        var index = 0;
        foreach (var prefix in prefixes)
        {
            yield return new RouteConfig
            {
                RouteId = $"{service}-{index++}",
                ClusterId = service,
                Match = new RouteMatch { Path = $"{prefix.TrimEnd('/')}/{{**rest}}" },
                AuthorizationPolicy = "default",
                OutputCachePolicy = CachePolicy(settings),
            };
        }
        foreach (var open in settings.PublicRoutes.Where(r => r.Service == service))
        {
            yield return new RouteConfig
            {
                RouteId = $"{service}-public-{index++}",
                ClusterId = service,
                Order = -1,
                Match = new RouteMatch { Path = open.Path, Methods = open.Methods.Count > 0 ? open.Methods : null },
                AuthorizationPolicy = "anonymous",
                OutputCachePolicy = CachePolicy(settings),
            };
        }
    }

    private static string? CachePolicy(GatewayOptions settings) => settings.ResponseCache.Enabled ? SharedResponseCache.PolicyName : null;

    private static ClusterConfig ClusterFor(string service, List<RouteDestination> destinations) => new()
    {
        ClusterId = service,
        LoadBalancingPolicy = "RoundRobin",
        HttpRequest = new Yarp.ReverseProxy.Forwarder.ForwarderRequestConfig { ActivityTimeout = TimeSpan.FromSeconds(30) },
        // Passive health on top of the registry's: a destination whose connections keep failing is ejected for a while,
        // before the registry's probes notice.
        HealthCheck = new HealthCheckConfig
        {
            Passive = new PassiveHealthCheckConfig { Enabled = true, Policy = "TransportFailureRate", ReactivationPeriod = TimeSpan.FromSeconds(10) },
        },
        Destinations = destinations.ToDictionary(
            d => d.Id,
            d => new DestinationConfig { Address = d.Address, Metadata = new Dictionary<string, string> { ["version"] = d.Version } }),
    };
}

/// <summary>
/// Routes from configuration (<c>Gateway:StaticDestinations</c>, service → address): on Kubernetes each address is
/// the service's cluster DNS name, and the Service object spreads requests over the ready pods.
/// </summary>
public static class StaticRoutes
{
    public static void Load(InMemoryConfigProvider proxyConfig, GatewayOptions settings)
    {
        var services = settings.StaticDestinations.Keys.Where(s => !settings.ExcludedServices.Contains(s)).Order(StringComparer.Ordinal).ToList();
        var destinations = services.ToDictionary(
            s => s,
            s => new List<RouteDestination> { new($"{s}-dns", settings.StaticDestinations[s], "") });
        proxyConfig.Update(RouteTable.Routes(services, settings), RouteTable.Clusters(services, destinations));
    }
}
