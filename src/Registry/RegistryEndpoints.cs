using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using Mercato.ServiceDefaults.Auth;
using Mercato.ServiceDefaults.Discovery;
using Mercato.ServiceDefaults.Http;

namespace Mercato.Registry;

public static partial class RegistryEndpoints
{
    public static void MapRegistryEndpoints(this WebApplication app)
    {
        // Internal API used by every instance. Not under /api, so the gateway never exposes it.
        var registry = app.MapGroup("/registry/v1").AllowAnonymous().WithTags("Registration");

        // Changing who is registered takes the registration key, when the registry has one.
        var membership = registry.MapGroup("/instances").AddEndpointFilter(RequireRegistrationKey)
            .ProducesProblem(StatusCodes.Status401Unauthorized);
        membership.MapPost("", async (InstanceRegistration registration, ServiceRegistry services, HealthProber prober,
            IOptions<RegistryServerOptions> limits, CancellationToken ct) =>
        {
            var errors = Validate(registration);
            if (errors.Count > 0)
            {
                return Results.ValidationProblem(errors);
            }
            // The registry keeps every instance in memory and probes each one: registrations, open to anyone who can
            // reach it when it has no registration key, must not grow without bound.
            if (services.Full(registration, limits.Value.MaxInstancesPerService, limits.Value.MaxInstances) is { } full)
            {
                return Results.ValidationProblem(new Dictionary<string, string[]> { ["serviceName"] = [full] },
                    statusCode: StatusCodes.Status409Conflict, title: "Registry full");
            }
            var instance = services.Register(registration);
            if (instance.Status != InstanceStatus.Healthy)
            {
                // On probation: probe now rather than at the next round, so an instance that is reachable again is
                // listed at once.
                await prober.ProbeAsync(instance, ct);
                instance = services.Find(instance.InstanceId) ?? instance;
            }
            return Results.Created($"/registry/v1/instances/{registration.InstanceId}", instance);
        }).Produces<ServiceInstance>(StatusCodes.Status201Created).ProducesProblem(StatusCodes.Status409Conflict);
        membership.MapPut("/{instanceId}/heartbeat", (string instanceId, ServiceRegistry services) =>
            services.Heartbeat(instanceId) ? Results.NoContent() : NotRegistered(instanceId))
            .Produces(StatusCodes.Status204NoContent).ProducesProblem(StatusCodes.Status404NotFound);
        membership.MapDelete("/{instanceId}", (string instanceId, ServiceRegistry services) =>
            services.Deregister(instanceId, "deregistered by the instance") ? Results.NoContent() : NotRegistered(instanceId))
            .Produces(StatusCodes.Status204NoContent).ProducesProblem(StatusCodes.Status404NotFound);
        registry.MapGet("/instances", (ServiceRegistry services, HttpResponse response, IOptions<RegistryServerOptions> settings) =>
            Lookup(services, response, settings.Value, null));
        registry.MapGet("/services/{serviceName}", (string serviceName, ServiceRegistry services, HttpResponse response,
            IOptions<RegistryServerOptions> settings) => Lookup(services, response, settings.Value, serviceName));

        app.MapGet("/api/registry/services", (ServiceRegistry services) =>
                services.All()
                    .GroupBy(i => i.ServiceName)
                    .Select(g => new RegisteredService(g.Key, g.Count(i => i.Status == InstanceStatus.Healthy), [.. g])))
            .RequireAuthorization(MercatoAuth.AdminPolicy)
            .WithTags("Registry");
    }

    private static async ValueTask<object?> RequireRegistrationKey(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var expected = http.RequestServices.GetRequiredService<IOptions<RegistryOptions>>().Value.RegistrationKey;
        if (expected is not { Length: > 0 })
        {
            return await next(context);
        }
        var shown = http.Request.Headers[RegistryOptions.RegistrationKeyHeader].ToString();
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(shown), Encoding.UTF8.GetBytes(expected))
            ? await next(context)
            : Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Registration key required",
                detail: $"Registering, renewing and leaving take this system's registration key in the {RegistryOptions.RegistrationKeyHeader} header.");
    }

    private static IReadOnlyList<ServiceInstance> Lookup(ServiceRegistry services, HttpResponse response, RegistryServerOptions settings,
        string? serviceName)
    {
        if (services.IsWarming(settings.WarmUp))
        {
            response.Headers[RegistryWarming.Header] = "true";
        }
        return services.Healthy(serviceName);
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
        // The id goes into URLs (heartbeat, deregistration, the Location header) and logs: URL-safe characters only.
        if (string.IsNullOrEmpty(registration.InstanceId) || !InstanceIdPattern().IsMatch(registration.InstanceId))
        {
            errors["instanceId"] = ["1 to 200 letters, digits, '.', '_', ':' or '-', starting with a letter or digit."];
        }
        // Instances are listed to every caller of the registry: an address must not carry credentials. Scheme, host and
        // port only: the registry probes {address}/health/ready, and a path or query would let a registration aim that
        // probe at any URL of an internal host.
        if (registration.Address is not { Length: <= 2048 } || !Uri.TryCreate(registration.Address, UriKind.Absolute, out var address)
            || address.Scheme is not ("http" or "https") || address.UserInfo.Length > 0
            || address.AbsolutePath != "/" || address.Query.Length > 0 || address.Fragment.Length > 0)
        {
            errors["address"] = ["An absolute http(s) URL of scheme, host and port only (no user information, path or query), at most 2048 characters."];
        }
        if (string.IsNullOrWhiteSpace(registration.Version) || registration.Version.Length > 64 || !InputText.IsClean(registration.Version))
        {
            errors["version"] = ["Required, at most 64 characters, no control characters."];
        }
        if (registration.Metadata is { } metadata
            && (metadata.Count > 32 || metadata.Any(m => m.Key.Length is 0 or > 64 || m.Value is not { Length: <= 1024 } || !InputText.IsClean(m.Key) || !InputText.IsClean(m.Value))))
        {
            errors["metadata"] = ["At most 32 entries; keys of 1 to 64 characters, values of at most 1024, no control characters."];
        }
        return errors;
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}\\z")]
    private static partial Regex InstanceIdPattern();

    [GeneratedRegex("^[a-z][a-z0-9-]{0,62}\\z")]
    private static partial Regex ServiceNamePattern();
}

public sealed record RegisteredService(string Name, int HealthyInstances, IReadOnlyList<ServiceInstance> Instances);
