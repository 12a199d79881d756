using Mercato.ServiceDefaults.Discovery;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Configuration;

namespace Mercato.Gateway;

/// <summary>
/// Keeps YARP's routes and clusters in step with the registry: /api/{service}/... goes to the healthy instances of
/// {service}. A service whose last instance vanished keeps its (empty) cluster, so callers get a quick 503 rather
/// than a 404. When the registry is unreachable the last known table stays in force, and while a registry that just
/// restarted warms up, instances it does not list yet stay in it.
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
    private IReadOnlyList<ServiceInstance> _lastInstances = [];

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
            var lookup = await registry.LookupAsync(null, ct);
            // A registry that just restarted lists instances as they register again: keep the others meanwhile.
            instances = lookup.Warming ? RegistryWarming.Merge(lookup.Instances, _lastInstances) : lookup.Instances;
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            if (_lastError is null)
            {
                logger.LogWarning("Registry unreachable ({Error}); keeping the last known routes", ex.Message);
            }
            _lastError = ex.Message;
            if (!_loaded)
            {
                // A gateway that starts while the registry is down has no table to keep: the known services get routes
                // without instances, so their callers get 503 (try again) rather than the 401 of a path no route serves.
                Publish([]);
            }
            return;
        }
        _lastError = null;
        _lastInstances = instances;
        var settings = options.Value;
        var byService = instances
            .Where(i => !settings.ExcludedServices.Contains(i.ServiceName))
            .GroupBy(i => i.ServiceName)
            .ToDictionary(g => g.Key, g => g.OrderBy(i => i.InstanceId, StringComparer.Ordinal).ToList());
        _knownServices.UnionWith(byService.Keys);
        Publish(byService);
        _loaded = true;
    }

    /// <summary>Routes for every known service, to the given instances; nothing is changed when the table is the same.</summary>
    private void Publish(Dictionary<string, List<ServiceInstance>> byService)
    {
        var signature = string.Join(';', _knownServices.Order(StringComparer.Ordinal).Select(s =>
            $"{s}={string.Join(',', byService.GetValueOrDefault(s, []).Select(i => $"{i.InstanceId}@{i.Address}"))}"));
        if (signature == _lastSignature)
        {
            return;
        }
        var services = _knownServices.Order(StringComparer.Ordinal).ToList();
        var destinations = byService.ToDictionary(
            kv => kv.Key,
            kv => kv.Value.Select(i => new RouteDestination(i.InstanceId, i.Address, i.Version)).ToList());
        proxyConfig.Update(RouteTable.Routes(services, options.Value), RouteTable.Clusters(services, destinations));
        _lastSignature = signature;
        logger.LogInformation("Routes updated: {Signature}", signature);
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(!_loaded
            ? HealthCheckResult.Unhealthy("No route table loaded from the registry yet.")
            : _lastError is null
                ? HealthCheckResult.Healthy($"{_knownServices.Count} service(s) routed.")
                : HealthCheckResult.Degraded($"Routing from the last known table; registry unreachable: {_lastError}"));
}
