using Mercato.ServiceDefaults.Discovery;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Configuration;

namespace Mercato.Gateway;

/// <summary>
/// Keeps YARP's routes and clusters in step with the registry: /api/{service}/... goes to the healthy instances of
/// {service}. A service whose last instance vanished keeps its (empty) cluster, so callers get a quick 503 rather
/// than a 404. When the registry is unreachable the last known table stays in force.
/// </summary>
public sealed class RegistryRouteSync(
    RegistryClient registry,
    InMemoryConfigProvider proxyConfig,
    IOptions<GatewayOptions> options,
    ILogger<RegistryRouteSync> logger) : BackgroundService, IHealthCheck
{
    // Services named in the public routes are known from the start: before they register, callers get 503, not 401.
    private readonly HashSet<string> _knownServices = new(options.Value.PublicRoutes.Select(r => r.Service), StringComparer.Ordinal);
    private string _lastSignature = "";
    private bool _loaded;
    private string? _lastError;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.RefreshInterval);
        try
        {
            do
            {
                await RefreshAsync(stoppingToken);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task RefreshAsync(CancellationToken ct)
    {
        IReadOnlyList<ServiceInstance> instances;
        try
        {
            instances = await registry.GetHealthyInstancesAsync(ct);
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            if (_lastError is null)
            {
                logger.LogWarning("Registry unreachable ({Error}); keeping the last known routes", ex.Message);
            }
            _lastError = ex.Message;
            return;
        }
        _lastError = null;
        var settings = options.Value;
        var byService = instances
            .Where(i => !settings.ExcludedServices.Contains(i.ServiceName))
            .GroupBy(i => i.ServiceName)
            .ToDictionary(g => g.Key, g => g.OrderBy(i => i.InstanceId, StringComparer.Ordinal).ToList());
        _knownServices.UnionWith(byService.Keys);

        var signature = string.Join(';', _knownServices.Order(StringComparer.Ordinal).Select(s =>
            $"{s}={string.Join(',', byService.GetValueOrDefault(s, []).Select(i => $"{i.InstanceId}@{i.Address}"))}"));
        if (signature == _lastSignature)
        {
            _loaded = true;
            return;
        }
        var routes = _knownServices.SelectMany(service => RoutesFor(service, settings)).ToList();
        var clusters = _knownServices.Select(service => ClusterFor(service, byService.GetValueOrDefault(service, []))).ToList();
        proxyConfig.Update(routes, clusters);
        _lastSignature = signature;
        _loaded = true;
        logger.LogInformation("Routes updated: {Signature}", signature);
    }

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
            };
        }
    }

    private static ClusterConfig ClusterFor(string service, List<ServiceInstance> instances) => new()
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
        Destinations = instances.ToDictionary(
            i => i.InstanceId,
            i => new DestinationConfig { Address = i.Address, Metadata = new Dictionary<string, string> { ["version"] = i.Version } }),
    };

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(!_loaded
            ? HealthCheckResult.Unhealthy("No route table loaded from the registry yet.")
            : _lastError is null
                ? HealthCheckResult.Healthy($"{_knownServices.Count} service(s) routed.")
                : HealthCheckResult.Degraded($"Routing from the last known table; registry unreachable: {_lastError}"));
}
