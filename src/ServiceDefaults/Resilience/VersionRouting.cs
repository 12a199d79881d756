using Mercato.ServiceDefaults.Discovery;
using Microsoft.AspNetCore.Http;

namespace Mercato.ServiceDefaults.Resilience;

/// <summary>
/// The routing rule of one target, shared by the gateway and every service client: which version gets this call.
/// </summary>
public static class VersionRouter
{
    /// <summary>
    /// The version to send a call to, or null when any instance will do. A canary header ("true") picks the canary
    /// version; otherwise the weights pick at random in proportion (versions without an instance left out); with no
    /// weights, ordinary calls stay off the canary.
    /// </summary>
    public static string? Choose(RoutingPolicy routing, string? canaryHeaderValue, IReadOnlyCollection<string> availableVersions)
    {
        if (routing.CanaryVersion is { } canary && availableVersions.Contains(canary)
            && string.Equals(canaryHeaderValue, "true", StringComparison.OrdinalIgnoreCase))
        {
            return canary;
        }
        var candidates = routing.Weights.Where(w => w.Value > 0 && availableVersions.Contains(w.Key)).ToList();
        if (candidates.Count > 0)
        {
            var pick = Random.Shared.Next(candidates.Sum(c => c.Value));
            foreach (var (version, weight) in candidates)
            {
                if ((pick -= weight) < 0)
                {
                    return version;
                }
            }
        }
        if (routing.Weights.Count == 0 && routing.CanaryVersion is { } held && availableVersions.Any(v => v != held))
        {
            var stable = availableVersions.Where(v => v != held).ToList();
            return stable[Random.Shared.Next(stable.Count)];
        }
        return null;
    }

    public static bool HasRules(RoutingPolicy routing) => routing.Weights.Count > 0 || routing.CanaryVersion is not null;
}

/// <summary>
/// Applies the target's routing rule to a service-to-service call: when the rule picks a version, the call goes to an
/// instance of that version (from the same cached registry view discovery uses). The canary header of the request
/// being served travels on, so a canary request stays on canaries down the call chain. The request keeps its logical
/// address outside this handler: a retry of the same message is routed afresh, and an instance that refuses the
/// connection drops the service's cached instance list, as <see cref="DiscoveryRefreshHandler"/> does for the rest.
/// </summary>
public sealed class VersionRoutingHandler(PolicyStore policies, ServiceInstanceCache instances, IHttpContextAccessor inbound) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.RequestUri is { } uri && !uri.HostNameType.HasFlag(UriHostNameType.IPv4) && uri.HostNameType != UriHostNameType.IPv6
            && !uri.IsLoopback)
        {
            var routing = policies.Get(uri.Host).Routing;
            if (VersionRouter.HasRules(routing))
            {
                var header = request.Headers.TryGetValues(routing.CanaryHeader, out var values) ? values.FirstOrDefault() : null;
                // Carried on only as ASCII, what this client sends: a value beyond it would fail the call, not route it.
                if (header is null && inbound.HttpContext?.Request.Headers[routing.CanaryHeader].FirstOrDefault() is { } carried
                    && System.Text.Ascii.IsValid(carried))
                {
                    header = carried;
                    request.Headers.TryAddWithoutValidation(routing.CanaryHeader, carried);
                }
                var known = await instances.GetInstancesAsync(uri.Host, cancellationToken);
                var version = VersionRouter.Choose(routing, header, [.. known.Select(i => i.Version).Distinct()]);
                var chosen = known.Where(i => i.Version == version).ToList();
                if (chosen.Count > 0)
                {
                    var address = new Uri(chosen[Random.Shared.Next(chosen.Count)].Address);
                    request.RequestUri = new UriBuilder(uri) { Scheme = address.Scheme, Host = address.Host, Port = address.Port }.Uri;
                    try
                    {
                        return await base.SendAsync(request, cancellationToken);
                    }
                    catch (HttpRequestException ex) when (ex.HttpRequestError == HttpRequestError.ConnectionError)
                    {
                        instances.Invalidate(uri.Host);
                        throw;
                    }
                    finally
                    {
                        request.RequestUri = uri;
                    }
                }
            }
        }
        return await base.SendAsync(request, cancellationToken);
    }
}
