using System.ComponentModel.DataAnnotations;
using Mercato.ServiceDefaults.Configuration;

namespace Mercato.Gateway;

/// <summary>Gateway settings (section "Gateway").</summary>
public sealed class GatewayOptions : IValidatableObject
{
    public const string SectionName = "Gateway";

    /// <summary>How often the route table is rebuilt from the registry.</summary>
    [Range(typeof(TimeSpan), SettingBounds.MinPeriod, SettingBounds.MaxPeriod, ErrorMessage = "Gateway:RefreshInterval must be from {1} to {2}.")]
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Registered services that get no /api route (the gateway itself).</summary>
    public List<string> ExcludedServices { get; set; } = ["gateway"];

    /// <summary>
    /// Public path prefixes of services whose API is not under /api/{service} (ordering serves /api/orders). A service
    /// not listed here gets /api/{its name}.
    /// </summary>
    public Dictionary<string, List<string>> PathPrefixes { get; set; } = [];

    /// <summary>
    /// Service → address, for routing without the registry (Kubernetes: http://catalog is the cluster DNS name of
    /// catalog's Service). When set, the registry is not asked for routes.
    /// </summary>
    public Dictionary<string, string> StaticDestinations { get; set; } = [];

    /// <summary>Requests that need no token. Everything else under /api needs a valid one.</summary>
    public List<PublicRoute> PublicRoutes { get; set; } = [];

    /// <summary>Serve the system's API reference (<see cref="Gateway.ApiReference"/>): /scalar/ and /openapi/services/{service}.json.</summary>
    public bool ApiReference { get; set; } = true;

    /// <summary>The shared cache for responses services mark public (<see cref="SharedResponseCache"/>).</summary>
    public ResponseCacheOptions ResponseCache { get; set; } = new();

    // Validation attributes are checked on this object's own properties only.
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(ResponseCache, new ValidationContext(ResponseCache), results, validateAllProperties: true);
        return results;
    }
}

/// <summary>A path (YARP route template) of a service that anonymous callers may use with the given methods.</summary>
public sealed class PublicRoute
{
    public string Service { get; set; } = "";

    public string Path { get; set; } = "";

    public List<string> Methods { get; set; } = [];
}
