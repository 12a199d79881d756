using Microsoft.Extensions.Configuration;

namespace Mercato.AppHost;

/// <summary>What the one-command run can be told (section "Mercato", or --Mercato:Key=value on the command line).</summary>
public sealed record MercatoSettings(
    int GatewayPort, int RegistryPort, string DataDir, string AdminPassword,
    IReadOnlyDictionary<string, int> Replicas, IReadOnlyDictionary<string, int> MessagingPorts, string? OrderStepTimeout, string SagaStyle)
{
    /// <summary>Services that talk over Wolverine's TCP transport, with their default listening ports.</summary>
    public static readonly IReadOnlyDictionary<string, int> DefaultMessagingPorts = new Dictionary<string, int>
    {
        ["ordering"] = 8101, ["payment"] = 8102, ["inventory"] = 8103, ["notification"] = 8104, ["analytics"] = 8105,
    };

    public const string DevelopmentAdminPassword = "Admin123!";

    public static MercatoSettings From(IDistributedApplicationBuilder builder)
    {
        var section = builder.Configuration.GetSection("Mercato");
        var replicas = section.GetSection("Replicas").GetChildren()
            .ToDictionary(c => c.Key.ToLowerInvariant(), c => int.TryParse(c.Value, out var n) && n > 0 ? n : 1);
        return new MercatoSettings(
            section.GetValue("GatewayPort", 8080),
            section.GetValue("RegistryPort", 8081),
            Path.GetFullPath(section["DataDir"] ?? Path.Combine(builder.AppHostDirectory, "..", "..", ".data")),
            section["AdminPassword"] ?? DevelopmentAdminPassword,
            replicas,
            DefaultMessagingPorts.ToDictionary(p => p.Key, p => section.GetValue($"MessagingPorts:{p.Key}", p.Value)),
            section["OrderStepTimeout"],
            section["SagaStyle"] ?? "Orchestration");
    }
}

public static class MercatoResources
{
    /// <summary>
    /// Adds a service, and as many extra instances as Mercato:Replicas:{name} asks for. Each instance binds a free
    /// loopback port and registers the address it got, so the registry and the gateway balance per request.
    /// </summary>
    public static IResourceBuilder<ProjectResource> AddMercatoService<TProject>(
        this IDistributedApplicationBuilder builder, string name, MercatoSettings settings, IResourceBuilder<ProjectResource> registry)
        where TProject : IProjectMetadata, new()
    {
        var registryUrl = registry.GetEndpoint("http");
        var count = settings.Replicas.GetValueOrDefault(name, 1);
        IResourceBuilder<ProjectResource>? first = null;
        for (var i = 1; i <= count; i++)
        {
            var instance = builder.AddProject<TProject>(i == 1 ? name : $"{name}-{i}", o => o.ExcludeLaunchProfile = true)
                .WithEnvironment("ASPNETCORE_URLS", "http://127.0.0.1:0")
                .WithMercatoEnvironment(settings, registryUrl, name)
                .WaitFor(registry);
            first ??= instance;
        }
        return first!;
    }

    /// <summary>
    /// Gives a service its Wolverine TCP listening port and the address of every messaging peer. The embedded transport
    /// addresses one process per service, so such services run a single instance here (several need the broker profile).
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithMessaging(this IResourceBuilder<ProjectResource> resource, MercatoSettings settings, string serviceName)
    {
        if (settings.Replicas.GetValueOrDefault(serviceName, 1) > 1)
        {
            throw new InvalidOperationException($"{serviceName} exchanges messages over the embedded TCP transport and runs one instance in this profile.");
        }
        resource.WithEnvironment("Messaging__Port", settings.MessagingPorts[serviceName].ToString(System.Globalization.CultureInfo.InvariantCulture));
        foreach (var (peer, port) in settings.MessagingPorts)
        {
            resource.WithEnvironment($"Messaging__Peers__{peer}", "tcp://localhost:" + port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        return resource;
    }

    public static IResourceBuilder<ProjectResource> WithMercatoEnvironment(
        this IResourceBuilder<ProjectResource> resource, MercatoSettings settings, EndpointReference registryUrl, string serviceName) =>
        resource
            .WithEnvironment("ASPNETCORE_ENVIRONMENT", "Development")
            .WithEnvironment("Registry__Url", registryUrl)
            .WithEnvironment("Registry__ServiceName", serviceName)
            .WithEnvironment("Mercato__DataDir", settings.DataDir)
            // One system-wide choice: every participant routes its messages for the same saga style.
            .WithEnvironment("Ordering__SagaStyle", settings.SagaStyle);
}
