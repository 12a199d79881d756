using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.Options;

namespace Mercato.ServiceDefaults.Discovery;

/// <summary>HTTP client of the registry's internal API.</summary>
public sealed class RegistryClient(HttpClient http) : IDisposable
{
    private readonly HttpClient _http = http;

    /// <summary>
    /// A plain HttpClient, not one from the factory: the factory's clients resolve host names through the registry,
    /// and the registry itself must not be looked up that way.
    /// </summary>
    public static RegistryClient Create(IOptions<RegistryOptions> options)
    {
        var url = options.Value.Url ?? throw new InvalidOperationException("Registry:Url is not configured.");
        var http = new HttpClient(new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(2),
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        })
        {
            BaseAddress = new Uri(url.TrimEnd('/') + "/"),
            Timeout = TimeSpan.FromSeconds(5),
        };
        if (options.Value.RegistrationKey is { Length: > 0 } key)
        {
            http.DefaultRequestHeaders.Add(RegistryOptions.RegistrationKeyHeader, key);
        }
        return new RegistryClient(http);
    }

    /// <exception cref="RegistrationRefusedException">The registry answered 4xx: retrying the same registration cannot help.</exception>
    public async Task RegisterAsync(InstanceRegistration registration, CancellationToken ct)
    {
        using var response = await _http.PostAsJsonAsync("registry/v1/instances", registration, ct);
        // A timeout or a rate limit is the registry being busy, not a refusal of this instance.
        if ((int)response.StatusCode is >= 400 and < 500 and not (408 or 429))
        {
            var body = await response.Content.ReadAsStringAsync(ct);
            throw new RegistrationRefusedException((int)response.StatusCode, body.Length > 500 ? body[..500] : body);
        }
        response.EnsureSuccessStatusCode();
    }

    /// <returns>false when the registry no longer knows the instance (it was evicted) and it must register again.</returns>
    public async Task<bool> HeartbeatAsync(string instanceId, CancellationToken ct)
    {
        using var response = await _http.PutAsync($"registry/v1/instances/{Uri.EscapeDataString(instanceId)}/heartbeat", null, ct);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
        response.EnsureSuccessStatusCode();
        return true;
    }

    /// <returns>true when the registry listed the instance (and no longer does); false when it did not know it.</returns>
    public async Task<bool> DeregisterAsync(string instanceId, CancellationToken ct)
    {
        using var response = await _http.DeleteAsync($"registry/v1/instances/{Uri.EscapeDataString(instanceId)}", ct);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
        response.EnsureSuccessStatusCode();
        return true;
    }

    /// <summary>Healthy instances of every service.</summary>
    public async Task<IReadOnlyList<ServiceInstance>> GetHealthyInstancesAsync(CancellationToken ct) =>
        (await LookupAsync(null, ct)).Instances;

    /// <summary>Healthy instances of one service, or of every service when <paramref name="serviceName"/> is null.</summary>
    public async Task<RegistryLookup> LookupAsync(string? serviceName, CancellationToken ct)
    {
        using var response = await _http.GetAsync(
            serviceName is null ? "registry/v1/instances" : $"registry/v1/services/{Uri.EscapeDataString(serviceName)}", ct);
        response.EnsureSuccessStatusCode();
        var instances = await response.Content.ReadFromJsonAsync<List<ServiceInstance>>(ct) ?? [];
        return new RegistryLookup(instances, response.Headers.Contains(RegistryWarming.Header));
    }

    /// <summary>
    /// The control plane's policy document and its entity tag, or null while it is still the one tagged
    /// <paramref name="knownETag"/> (null: whatever it is).
    /// </summary>
    public async Task<Resilience.PolicyPull?> GetPoliciesAsync(System.Net.Http.Headers.EntityTagHeaderValue? knownETag, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "registry/v1/policies");
        if (knownETag is not null)
        {
            request.Headers.IfNoneMatch.Add(knownETag);
        }
        using var response = await _http.SendAsync(request, ct);
        if (response.StatusCode == HttpStatusCode.NotModified)
        {
            return null;
        }
        response.EnsureSuccessStatusCode();
        var policy = await response.Content.ReadFromJsonAsync<Resilience.MeshPolicy>(Resilience.MeshPolicy.TolerantJson, ct)
            ?? throw new InvalidOperationException("The control plane answered an empty policy document.");
        return new Resilience.PolicyPull(policy, response.Headers.ETag);
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>
/// The registry refused a registration (401: wrong registration key; 400: a name, version or address it does not take;
/// 409: it is full). The settings are wrong, not the network: it says which and what the registry answered.
/// </summary>
public sealed class RegistrationRefusedException(int status, string answer) : Exception(
    $"The registry refused the registration with {status}: {answer} "
    + "Check Registry:RegistrationKey (the registry's and this service's must match), Registry:ServiceName, Registry:Version "
    + "and Registry:AdvertisedAddress.")
{
    public int Status { get; } = status;
}
