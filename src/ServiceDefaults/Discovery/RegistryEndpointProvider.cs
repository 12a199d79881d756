using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.ServiceDiscovery;

namespace Mercato.ServiceDefaults.Discovery;

/// <summary>
/// Plugs the registry into Microsoft.Extensions.ServiceDiscovery: http://catalog resolves to the healthy instances the
/// registry lists for "catalog". The library does the per-request load balancing (round robin) and re-resolves when
/// the change token fires.
/// </summary>
public sealed class RegistryEndpointProviderFactory(ServiceInstanceCache cache, ILogger<RegistryEndpointProviderFactory> logger)
    : IServiceEndpointProviderFactory
{
    public bool TryCreateProvider(ServiceEndpointQuery query, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IServiceEndpointProvider? provider)
    {
        // Only logical names (a single DNS label) are service names; real hosts and IPs pass through untouched.
        var name = query.ServiceName;
        if (name.Contains('.', StringComparison.Ordinal) || name.Equals("localhost", StringComparison.OrdinalIgnoreCase)
            || IPAddress.TryParse(name, out _))
        {
            provider = null;
            return false;
        }
        provider = new RegistryEndpointProvider(name, cache, logger);
        return true;
    }

    private sealed class RegistryEndpointProvider(string serviceName, ServiceInstanceCache cache, ILogger logger)
        : IServiceEndpointProvider
    {
        public async ValueTask PopulateAsync(IServiceEndpointBuilder endpoints, CancellationToken cancellationToken)
        {
            var instances = await cache.GetInstancesAsync(serviceName, cancellationToken);
            foreach (var instance in instances)
            {
                var uri = new Uri(instance.Address);
                endpoints.Endpoints.Add(ServiceEndpoint.Create(new DnsEndPoint(uri.Host, uri.Port)));
            }
            if (instances.Count == 0)
            {
                logger.LogWarning("The registry lists no healthy instance of {Service}", serviceName);
            }
            endpoints.AddChangeToken(cache.GetChangeToken(serviceName));
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

/// <summary>
/// When a call to a logical service cannot connect, the cached instance list is stale: drop it so the next attempt
/// (the resilience pipeline retries) resolves again instead of waiting for the TTL.
/// </summary>
public sealed class DiscoveryRefreshHandler(ServiceInstanceCache cache) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        try
        {
            return await base.SendAsync(request, cancellationToken);
        }
        catch (HttpRequestException ex) when (ex.HttpRequestError == HttpRequestError.ConnectionError && request.RequestUri is { } uri)
        {
            cache.Invalidate(uri.Host);
            throw;
        }
    }
}
