using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;

namespace Mercato.EndToEnd.Tests;

/// <summary>
/// How the AppHost launches each process, read from its application model (nothing started): the built assembly
/// directly, not DCP's default <c>dotnet run --project … --no-build</c> with its MSBuild evaluation and ~130 MB wrapper.
/// </summary>
public sealed class AppHostModelTests
{
    private static async Task<List<ProjectResource>> ProjectsAsync(params string[] args)
    {
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Mercato_AppHost>(args);
        return [.. builder.Resources.OfType<ProjectResource>()];
    }

    [Fact]
    public async Task Every_process_runs_its_built_assembly()
    {
        var projects = await ProjectsAsync();

        Assert.Equal(10, projects.Count);
        foreach (var project in projects)
        {
            Assert.True(project.TryGetLastAnnotation<ExecutableAnnotation>(out var launch), $"{project.Name} is started with dotnet run");
            Assert.Equal("dotnet", launch.Command);
            Assert.True(File.Exists(await BuiltAssemblyAsync(project)), project.Name);
        }
    }

    /// <summary>The assembly the process is started with: the argument that names the project's own dll.</summary>
    private static async Task<string> BuiltAssemblyAsync(ProjectResource project)
    {
        var assembly = Path.GetFileNameWithoutExtension(project.GetProjectMetadata().ProjectPath) + ".dll";
        var args = new List<object>();
        foreach (var callback in project.Annotations.OfType<CommandLineArgsCallbackAnnotation>())
        {
            await callback.Callback(new CommandLineArgsCallbackContext(args));
        }
        return Assert.Single(args.OfType<string>(), arg => arg.EndsWith(assembly, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Every_process_runs_without_spinning_workers_and_only_the_gateway_with_dynamic_pgo()
    {
        // Eleven processes start at once on the same cores: the ten services and the AppHost that starts them.
        // Dynamic PGO's extra JIT pass per hot method made a just-started system cancel its first orders (benchmarks 5.9)
        // and cost the AppHost 15 % of its start-up CPU (5.23); spinning idle workers took CPU from the others (5.15).
        // The gateway keeps PGO: a few hot paths for every request, 15 % less CPU per proxied request (5.44).
        var runtimeConfigs = new List<string>();
        string? outputFolder = null;
        foreach (var project in await ProjectsAsync())
        {
            var assembly = await BuiltAssemblyAsync(project);
            runtimeConfigs.Add(Path.ChangeExtension(assembly, ".runtimeconfig.json"));
            outputFolder ??= Path.GetRelativePath(Path.GetDirectoryName(project.GetProjectMetadata().ProjectPath)!, Path.GetDirectoryName(assembly)!);
        }
        // The AppHost's generated metadata names its project folder, not its project file.
        runtimeConfigs.Add(Path.Combine(Projects.Mercato_AppHost.ProjectPath, outputFolder!, "Mercato.AppHost.runtimeconfig.json"));

        foreach (var runtimeConfig in runtimeConfigs)
        {
            using var json = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(runtimeConfig));
            var properties = json.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");
            Assert.True(properties.TryGetProperty("System.Runtime.TieredPGO", out var pgo), $"{runtimeConfig} leaves dynamic PGO to the runtime's default");
            Assert.Equal(Path.GetFileName(runtimeConfig) == "Mercato.Gateway.runtimeconfig.json", pgo.GetBoolean());
            Assert.True(properties.TryGetProperty("System.Threading.ThreadPool.UnfairSemaphoreSpinLimit", out var spin), $"{runtimeConfig} leaves workers spinning");
            Assert.Equal(0, spin.GetInt32());
        }
    }

    [Fact]
    public async Task Dotnet_run_stays_available_for_comparison()
    {
        var projects = await ProjectsAsync("--Mercato:RunBuiltAssemblies=false");

        Assert.All(projects, project => Assert.False(project.TryGetLastAnnotation<ExecutableAnnotation>(out _), project.Name));
    }

    /// <summary>
    /// The environment each process is given, as the model's callbacks (Aspire's OTLP variables included) write it;
    /// only plain strings are kept, since endpoint references resolve only once something runs.
    /// </summary>
    private static async Task<Dictionary<string, Dictionary<string, string>>> EnvironmentsAsync(params string[] args)
    {
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Mercato_AppHost>(args);
        var environments = new Dictionary<string, Dictionary<string, string>>();
        foreach (var project in builder.Resources.OfType<ProjectResource>())
        {
            var variables = new Dictionary<string, object>();
            var context = new EnvironmentCallbackContext(builder.ExecutionContext, project, variables);
            foreach (var callback in project.Annotations.OfType<EnvironmentCallbackAnnotation>())
            {
                await callback.Callback(context);
            }
            environments[project.Name] = variables.Where(v => v.Value is string).ToDictionary(v => v.Key, v => (string)v.Value);
        }
        return environments;
    }

    [Fact]
    public async Task Every_process_gets_the_runs_registration_key_and_each_run_makes_a_new_one()
    {
        var first = await EnvironmentsAsync();
        var second = await EnvironmentsAsync();

        var key = first["registry"]["Registry__RegistrationKey"];
        Assert.Equal(64, key.Length);
        Assert.All(first.Values, environment => Assert.Equal(key, environment.GetValueOrDefault("Registry__RegistrationKey")));
        Assert.NotEqual(key, second["registry"]["Registry__RegistrationKey"]);
    }

    [Fact]
    public async Task Every_trace_is_recorded_by_default()
    {
        var environments = await EnvironmentsAsync();

        Assert.Equal(10, environments.Count);
        foreach (var (name, environment) in environments)
        {
            Assert.Equal("always_on", environment.GetValueOrDefault("OTEL_TRACES_SAMPLER"));
            Assert.False(environment.ContainsKey("OTEL_TRACES_SAMPLER_ARG"), name);
        }
    }

    [Fact]
    public async Task A_trace_sample_ratio_reaches_every_process_over_aspires_always_on()
    {
        var environments = await EnvironmentsAsync("--Mercato:TraceSampleRatio=0.05");

        Assert.Equal(10, environments.Count);
        foreach (var environment in environments.Values)
        {
            Assert.Equal("parentbased_traceidratio", environment.GetValueOrDefault("OTEL_TRACES_SAMPLER"));
            Assert.Equal("0.05", environment.GetValueOrDefault("OTEL_TRACES_SAMPLER_ARG"));
        }
    }

    [Theory]
    [InlineData("1.5")]
    [InlineData("-0.1")]
    [InlineData("half")]
    public async Task A_trace_sample_ratio_outside_0_to_1_is_refused(string ratio)
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => ProjectsAsync($"--Mercato:TraceSampleRatio={ratio}"));
        Assert.Contains("Mercato:TraceSampleRatio", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--Mercato:Replicas:catalog=two", "Mercato:Replicas:catalog")]
    [InlineData("--Mercato:Replicas:catalog=0", "Mercato:Replicas:catalog")]
    [InlineData("--Mercato:Replicas:catalogue=2", "catalogue")]
    [InlineData("--replicas=gateway=2", "gateway")]
    [InlineData("--replicas=catalog", "--replicas")]
    [InlineData("--Mercato:GatewayPort=70000", "Mercato:GatewayPort")]
    [InlineData("--Mercato:RegistryPort=8080", "Mercato:GatewayPort")]
    [InlineData("--Mercato:MessagingPorts:payment=8081", "Mercato:MessagingPorts:payment")]
    [InlineData("--Mercato:SagaStyle=Choreographed", "Mercato:SagaStyle")]
    [InlineData("--Mercato:AdminPassword= ", "Mercato:AdminPassword")]
    [InlineData("--Mercato:OrderStepTimeout=00:00:00", "Mercato:OrderStepTimeout")]
    [InlineData("--Mercato:OrderStepTimeout=00:00:00.050", "Mercato:OrderStepTimeout")]
    [InlineData("--Mercato:OrderStepTimeout=2.00:00:00", "Mercato:OrderStepTimeout")]
    [InlineData("--Mercato:OrderStepTimeout=30s", "Mercato:OrderStepTimeout")]
    public async Task A_setting_the_run_would_not_honour_stops_it_naming_the_setting(string argument, string named)
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => ProjectsAsync(argument));
        Assert.Contains(named, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Replicas_are_read_whatever_the_case_and_spacing()
    {
        var projects = await ProjectsAsync("--replicas= Catalog = 2 ", "--Mercato:Replicas:Basket= 3", "--Mercato:SagaStyle=choreography");

        Assert.Equal(2, projects.Count(p => p.Name is "catalog" or "catalog-2"));
        Assert.Equal(3, projects.Count(p => p.Name.StartsWith("basket", StringComparison.Ordinal)));
    }
}
