using System.Text.RegularExpressions;
using Mercato.ServiceDefaults.Auth;
using Mercato.ServiceDefaults.Discovery;

namespace Mercato.Registry;

public static partial class RegistryEndpoints
{
    public static void MapRegistryEndpoints(this WebApplication app)
    {
        // Internal API used by every instance. Not under /api, so the gateway never exposes it.
        var registry = app.MapGroup("/registry/v1").AllowAnonymous().WithTags("Registration");

        registry.MapPost("/instances", (InstanceRegistration registration, ServiceRegistry services) =>
        {
            var errors = Validate(registration);
            return errors.Count > 0
                ? Results.ValidationProblem(errors)
                : Results.Created($"/registry/v1/instances/{registration.InstanceId}", services.Register(registration));
        });
        registry.MapPut("/instances/{instanceId}/heartbeat", (string instanceId, ServiceRegistry services) =>
            services.Heartbeat(instanceId) ? Results.NoContent() : NotRegistered(instanceId));
        registry.MapDelete("/instances/{instanceId}", (string instanceId, ServiceRegistry services) =>
            services.Deregister(instanceId, "deregistered by the instance") ? Results.NoContent() : NotRegistered(instanceId));
        registry.MapGet("/instances", (ServiceRegistry services) => services.Healthy());
        registry.MapGet("/services/{serviceName}", (string serviceName, ServiceRegistry services) => services.Healthy(serviceName));

        app.MapGet("/api/registry/services", (ServiceRegistry services) =>
                services.All()
                    .GroupBy(i => i.ServiceName)
                    .Select(g => new RegisteredService(g.Key, g.Count(i => i.Status == InstanceStatus.Healthy), [.. g])))
            .RequireAuthorization(MercatoAuth.AdminPolicy)
            .WithTags("Registry");
    }

    private static IResult NotRegistered(string instanceId) =>
        Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Instance not registered", detail: $"No instance '{instanceId}' is registered.");

    private static Dictionary<string, string[]> Validate(InstanceRegistration registration)
    {
        var errors = new Dictionary<string, string[]>();
        if (string.IsNullOrWhiteSpace(registration.ServiceName) || !ServiceNamePattern().IsMatch(registration.ServiceName))
        {
            errors["serviceName"] = ["Must be a lowercase DNS label (letters, digits, '-')."];
        }
        if (string.IsNullOrWhiteSpace(registration.InstanceId) || registration.InstanceId.Length > 200)
        {
            errors["instanceId"] = ["Required, at most 200 characters."];
        }
        if (!Uri.TryCreate(registration.Address, UriKind.Absolute, out var address) || address.Scheme is not ("http" or "https"))
        {
            errors["address"] = ["Must be an absolute http(s) URL."];
        }
        if (string.IsNullOrWhiteSpace(registration.Version))
        {
            errors["version"] = ["Required."];
        }
        return errors;
    }

    [GeneratedRegex("^[a-z][a-z0-9-]{0,62}$")]
    private static partial Regex ServiceNamePattern();
}

public sealed record RegisteredService(string Name, int HealthyInstances, IReadOnlyList<ServiceInstance> Instances);
