using Microsoft.Extensions.Configuration;

namespace Mercato.AppHost;

/// <summary>What the one-command run can be told (section "Mercato", or --Mercato:Key=value on the command line).</summary>
public sealed record MercatoSettings(int GatewayPort, int RegistryPort, string DataDir, string AdminPassword, IReadOnlyDictionary<string, int> Replicas)
{
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
            replicas);
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

    public static IResourceBuilder<ProjectResource> WithMercatoEnvironment(
        this IResourceBuilder<ProjectResource> resource, MercatoSettings settings, EndpointReference registryUrl, string serviceName) =>
        resource
            .WithEnvironment("ASPNETCORE_ENVIRONMENT", "Development")
            .WithEnvironment("Registry__Url", registryUrl)
            .WithEnvironment("Registry__ServiceName", serviceName)
            .WithEnvironment("Mercato__DataDir", settings.DataDir);
}
