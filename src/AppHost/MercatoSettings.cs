using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;

namespace Mercato.AppHost;

/// <summary>
/// What the one-command run can be told (section "Mercato", or --Mercato:Key=value on the command line), plus the
/// shorthands <c>--profile scale-out</c> and <c>--replicas catalog=3,ordering=2</c>.
/// </summary>
public sealed partial record MercatoSettings(
    int GatewayPort, int RegistryPort, string DataDir, string AdminPassword,
    IReadOnlyDictionary<string, int> Replicas, IReadOnlyDictionary<string, int> MessagingPorts, string? OrderStepTimeout, string SagaStyle,
    HostingProfile Profile, string InstanceName, string PostgresAdmin, string RabbitMq, string? SpanDirectory = null,
    bool RunBuiltAssemblies = true, double TraceSampleRatio = 1.0, string RegistrationKey = "")
{
    public const string DefaultPostgresAdmin = "Host=127.0.0.1;Port=5432;Username=postgres;Password=postgres";
    public const string DefaultRabbitMq = "amqp://guest:guest@127.0.0.1:5672/";

    /// <summary>Services that talk over Wolverine's TCP transport, with their default listening ports.</summary>
    public static readonly IReadOnlyDictionary<string, int> DefaultMessagingPorts = new Dictionary<string, int>
    {
        ["ordering"] = 8101, ["payment"] = 8102, ["inventory"] = 8103, ["notification"] = 8104, ["analytics"] = 8105,
    };

    public const string DevelopmentAdminPassword = "Admin123!";

    public static MercatoSettings From(IDistributedApplicationBuilder builder)
    {
        var section = builder.Configuration.GetSection("Mercato");
        // A setting the run would not honour stops it, rather than being printed as if in force.
        var replicas = section.GetSection("Replicas").GetChildren()
            .ToDictionary(c => ReplicatedService(c.Key.Trim(), $"Mercato:Replicas:{c.Key}"), c => ReplicaCount(c.Value, $"Mercato:Replicas:{c.Key}"));
        foreach (var pair in (builder.Configuration["replicas"] ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = pair.Split('=', StringSplitOptions.TrimEntries);
            if (parts.Length != 2)
            {
                throw new InvalidOperationException($"--replicas expects service=count pairs, like catalog=3,ordering=2; got '{pair}'.");
            }
            replicas[ReplicatedService(parts[0], "--replicas")] = ReplicaCount(parts[1], $"--replicas {pair}");
        }
        var adminPassword = section["AdminPassword"] ?? DevelopmentAdminPassword;
        if (string.IsNullOrWhiteSpace(adminPassword))
        {
            throw new InvalidOperationException("Mercato:AdminPassword must not be empty.");
        }
        var sagaStyle = SagaStyles.FirstOrDefault(style => style.Equals(section["SagaStyle"] ?? "Orchestration", StringComparison.OrdinalIgnoreCase))
            ?? throw new InvalidOperationException($"Mercato:SagaStyle '{section["SagaStyle"]}': use {string.Join(" or ", SagaStyles)}.");
        var gatewayPort = Port(section, "GatewayPort", 8080);
        var registryPort = Port(section, "RegistryPort", 8081);
        var messagingPorts = DefaultMessagingPorts.ToDictionary(p => p.Key, p => Port(section, $"MessagingPorts:{p.Key}", p.Value));
        var taken = new[] { ("GatewayPort", gatewayPort), ("RegistryPort", registryPort) }
            .Concat(messagingPorts.Select(p => ($"MessagingPorts:{p.Key}", p.Value)))
            .GroupBy(p => p.Item2).FirstOrDefault(g => g.Count() > 1);
        if (taken is not null)
        {
            throw new InvalidOperationException($"Port {taken.Key} is given to {string.Join(" and ", taken.Select(p => $"Mercato:{p.Item1}"))}.");
        }
        var instanceName = section["InstanceName"] ?? "mercato";
        if (!InstanceNamePattern().IsMatch(instanceName))
        {
            throw new InvalidOperationException("Mercato:InstanceName must be lower-case letters, digits and '_' (it names databases and queues).");
        }
        return new MercatoSettings(
            gatewayPort,
            registryPort,
            Path.GetFullPath(section["DataDir"] ?? Path.Combine(builder.AppHostDirectory, "..", "..", ".data")),
            adminPassword,
            replicas,
            messagingPorts,
            ParseStepTimeout(section["OrderStepTimeout"]),
            sagaStyle,
            ParseProfile(builder.Configuration["profile"] ?? section["Profile"]),
            instanceName,
            section["Postgres:Admin"] ?? DefaultPostgresAdmin,
            section["RabbitMq"] ?? DefaultRabbitMq,
            section["SpanDirectory"],
            section.GetValue("RunBuiltAssemblies", true),
            ParseSampleRatio(section["TraceSampleRatio"]),
            // A new one every run: only the processes this AppHost starts can register.
            section["RegistrationKey"] ?? Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));
    }

    /// <summary>The services that can run several instances (the registry and the gateway run one each).</summary>
    public static readonly IReadOnlyList<string> Services = ["identity", "catalog", "inventory", "payment", "basket", "notification", "analytics", "ordering"];

    private static readonly string[] SagaStyles = ["Orchestration", "Choreography"];

    private static string ReplicatedService(string name, string setting) =>
        Services.FirstOrDefault(s => s.Equals(name, StringComparison.OrdinalIgnoreCase))
            ?? throw new InvalidOperationException($"{setting}: '{name}' is not a service that can have replicas ({string.Join(", ", Services)}).");

    private static int ReplicaCount(string? value, string setting) =>
        int.TryParse(value?.Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var count) && count is > 0 and <= 16
            ? count
            : throw new InvalidOperationException($"{setting}: the number of instances must be from 1 to 16; got '{value}'.");

    private static int Port(IConfigurationSection section, string key, int defaultPort) =>
        section[key] is not { } value ? defaultPort
        : int.TryParse(value.Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) && port is > 0 and <= 65535
            ? port
            : throw new InvalidOperationException($"Mercato:{key} must be a port from 1 to 65535; got '{value}'.");

    // Ordering's own range for Ordering:StepTimeout, which it checks when it starts: a run that could not start it stops here.
    private static string? ParseStepTimeout(string? value) =>
        value is null ? null
        : TimeSpan.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, out var timeout)
            && timeout >= TimeSpan.FromMilliseconds(100) && timeout <= TimeSpan.FromDays(1)
            ? timeout.ToString("c", System.Globalization.CultureInfo.InvariantCulture)
            : throw new InvalidOperationException($"Mercato:OrderStepTimeout must be a time span from 00:00:00.100 to 1.00:00:00, like 00:00:30; got '{value}'.");

    private static double ParseSampleRatio(string? value) =>
        value is null ? 1.0
        : double.TryParse(value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var ratio) && ratio is >= 0 and <= 1
            ? ratio
            : throw new InvalidOperationException($"Mercato:TraceSampleRatio must be a number from 0 to 1 (the share of traces recorded); got '{value}'.");

    private static HostingProfile ParseProfile(string? value) =>
        value?.Replace("-", "", StringComparison.Ordinal).ToUpperInvariant() switch
        {
            null or "" or "EMBEDDED" => HostingProfile.Embedded,
            "SCALEOUT" => HostingProfile.ScaleOut,
            _ => throw new InvalidOperationException($"--profile '{value}': use embedded or scale-out."),
        };

    [GeneratedRegex("^[a-z][a-z0-9_]{0,30}\\z")]
    private static partial Regex InstanceNamePattern();
}

/// <summary>Embedded: SQLite files and Wolverine's TCP transport. ScaleOut: PostgreSQL and RabbitMQ (services read Mercato__Profile).</summary>
public enum HostingProfile
{
    Embedded,
    ScaleOut,
}

public static class MercatoResources
{
    /// <summary>
    /// Adds a service, and as many extra instances as Mercato:Replicas:{name} asks for. Each instance binds a free
    /// loopback port and registers the address it got, so the registry and the gateway balance per request.
    /// </summary>
    public static void AddMercatoService<TProject>(
        this IDistributedApplicationBuilder builder, string name, MercatoSettings settings, IResourceBuilder<ProjectResource> registry,
        Action<IResourceBuilder<ProjectResource>>? configure = null)
        where TProject : IProjectMetadata, new()
    {
        var registryUrl = registry.GetEndpoint("http");
        var count = settings.Replicas.GetValueOrDefault(name, 1);
        for (var i = 1; i <= count; i++)
        {
            var resourceName = i == 1 ? name : $"{name}-{i}";
            var instance = builder.AddProject<TProject>(resourceName, o => o.ExcludeLaunchProfile = true)
                .WithEnvironment("ASPNETCORE_URLS", "http://127.0.0.1:0")
                .WithMercatoEnvironment(settings, registryUrl, name)
                .WaitFor(registry);
            // --Mercato:Versions:catalog-2=2.0 registers that instance as version 2.0, for weighted and canary routing.
            if (builder.Configuration[$"Mercato:Versions:{resourceName}"] is { Length: > 0 } version)
            {
                instance.WithEnvironment("Registry__Version", version);
            }
            configure?.Invoke(instance);
        }
    }

    /// <summary>Scale-out: the service runs on its own PostgreSQL database and, if it has messages, on RabbitMQ.</summary>
    public static IResourceBuilder<ProjectResource> WithScaleOutServers(
        this IResourceBuilder<ProjectResource> resource, ScaleOutServers? servers, string serviceName)
    {
        if (servers is null)
        {
            return resource;
        }
        resource.WithEnvironment("Mercato__Profile", "ScaleOut")
            .WithEnvironment("ConnectionStrings__rabbitmq", servers.RabbitMq);
        return ScaleOutServers.DatabaseOwners.Contains(serviceName)
            ? resource.WithEnvironment($"ConnectionStrings__{serviceName}", servers.ConnectionString(serviceName))
            : resource;
    }

    /// <summary>
    /// Gives a service its Wolverine TCP listening port and the address of every messaging peer. The embedded transport
    /// addresses one process per service, so such services run a single instance here (several need the broker profile).
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithMessaging(this IResourceBuilder<ProjectResource> resource, MercatoSettings settings, string serviceName)
    {
        if (settings.Profile == HostingProfile.ScaleOut)
        {
            // RabbitMQ: every instance competes for the service's queue; names are prefixed per system.
            return resource.WithEnvironment("Messaging__Prefix", settings.InstanceName);
        }
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
        (settings.SpanDirectory is { } spans ? resource.WithEnvironment("Telemetry__SpanDirectory", spans) : resource)
            .RunBuiltAssembly(settings.RunBuiltAssemblies)
            .WithEnvironment("ASPNETCORE_ENVIRONMENT", "Development")
            .WithEnvironment("Registry__Url", registryUrl)
            .WithEnvironment("Registry__RegistrationKey", settings.RegistrationKey)
            .WithEnvironment("Registry__ServiceName", serviceName)
            .WithEnvironment("Mercato__DataDir", settings.DataDir)
            // One system-wide choice: every participant routes its messages for the same saga style.
            .WithEnvironment("Ordering__SagaStyle", settings.SagaStyle)
            .WithTraceSampling(settings.TraceSampleRatio);

    /// <summary>
    /// Aspire gives every project <c>OTEL_TRACES_SAMPLER=always_on</c>, which overrides anything the AppHost inherited,
    /// so a ratio has to be set here, after Aspire's own variables. Parent-based: a trace is kept or dropped whole, by its
    /// first process (the gateway), and every later hop follows the decision carried in <c>traceparent</c>.
    /// </summary>
    private static IResourceBuilder<ProjectResource> WithTraceSampling(this IResourceBuilder<ProjectResource> resource, double ratio) =>
        ratio >= 1.0
            ? resource
            : resource.WithEnvironment("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
                .WithEnvironment("OTEL_TRACES_SAMPLER_ARG", ratio.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>The configuration this AppHost was built in; building it built every service in the same one.</summary>
    private static readonly string BuildConfiguration =
        typeof(MercatoResources).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";

    /// <summary>
    /// Starts the service's built assembly (<c>dotnet bin/{configuration}/net10.0/{project}.dll</c>) rather than DCP's
    /// default <c>dotnet run --project … --no-build</c>: that costs an MSBuild evaluation per process before the service
    /// even starts (seconds each on 2 cores, ten at once) and leaves a ~130 MB <c>dotnet run</c> process beside every
    /// service for as long as it runs. Building the AppHost has already built every service. Aspire honours an
    /// <see cref="ExecutableAnnotation"/> on a project resource as its command. Without a built assembly (another output
    /// layout), or with Mercato:RunBuiltAssemblies=false (the benchmarks' baseline), DCP's default stays.
    /// </summary>
    public static IResourceBuilder<ProjectResource> RunBuiltAssembly(this IResourceBuilder<ProjectResource> resource, bool enabled)
    {
        var project = resource.Resource.GetProjectMetadata().ProjectPath;
        var directory = Path.GetDirectoryName(project)!;
        var assembly = Path.Combine(directory, "bin", BuildConfiguration, "net10.0", Path.GetFileNameWithoutExtension(project) + ".dll");
        if (!enabled || !File.Exists(assembly))
        {
            return resource;
        }
        return resource
            .WithAnnotation(new ExecutableAnnotation { Command = "dotnet", WorkingDirectory = directory }, ResourceAnnotationMutationBehavior.Replace)
            .WithArgs(assembly);
    }
}
