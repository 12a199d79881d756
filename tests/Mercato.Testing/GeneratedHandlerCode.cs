using JasperFx.CodeGeneration;
using JasperFx.CodeGeneration.Model;
using Mercato.ServiceDefaults.Messaging;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Wolverine.Runtime.Handlers;
using Xunit;

namespace Mercato.Testing;

/// <summary>
/// Wolverine's handler code, generated ahead of time and compiled into each messaging service (Internal/Generated), so
/// a service neither starts Roslyn nor waits for it on its first messages. This compares what Wolverine would generate
/// now with the files in the project; with MERCATO_WRITE_GENERATED_CODE=1 it rewrites them instead
/// (scripts/generate-handler-code.sh).
/// </summary>
public static class GeneratedHandlerCode
{
    public const string WriteVariable = "MERCATO_WRITE_GENERATED_CODE";

    /// <summary>
    /// The xUnit collection every code-generation test class joins, defined in its assembly with
    /// <c>DisableParallelization = true</c>. Generating code sets JasperFx's process-wide
    /// <c>DynamicCodeBuilder.WithinCodegenCommand</c>, and a Wolverine host that starts meanwhile, in a test class running
    /// in parallel, comes up in MediatorOnly mode: its first publish throws and the endpoint under test answers 500.
    /// </summary>
    public const string Collection = "Wolverine code generation (runs alone)";

    private static bool Writing => Environment.GetEnvironmentVariable(WriteVariable) == "1";

    // Every saga style is a configuration the committed code must cover (ordering's handler set depends on it).
    private static readonly string[] SagaStyleNames = Enum.GetNames<SagaStyle>();

    /// <summary>
    /// The service's committed handler code is current for every saga style, and with runtime compilation refused
    /// (Messaging:CodeGeneration=Static) every one of its handlers loads from the service's own assembly.
    /// </summary>
    public static void AssertPreGeneratedFor<TProgram>(Type testClass) where TProgram : class
    {
        AssertRunsAlone(testClass);
        var styles = SagaStyleNames.Select(style => new ConfiguredServiceFactory<TProgram>(("Ordering:SagaStyle", style))).ToList();
        try
        {
            AssertCommittedCodeIsCurrent([.. styles.Select(host => host.Services)]);
        }
        finally
        {
            styles.ForEach(host => host.Dispose());
        }
        if (Writing)
        {
            return; // the assembly under test was built before the files were written
        }
        foreach (var style in SagaStyleNames)
        {
            using var service = new ConfiguredServiceFactory<TProgram>(("Ordering:SagaStyle", style), ("Messaging:CodeGeneration", "Static"));
            var handlers = service.Services.GetServices<ICodeFileCollection>().OfType<HandlerGraph>().Single();
            Assert.NotEmpty(handlers.Chains);
            foreach (var chain in handlers.Chains)
            {
                // Static mode throws ExpectedTypeMissingException for a chain without a pre-built type.
                Assert.NotNull(handlers.HandlerFor(chain.MessageType));
            }
        }
    }

    /// <summary>
    /// The scale-out profile (PostgreSQL message store) loads the same pre-built types by name, so it must generate the
    /// same code. Needs PostgreSQL (MERCATO_TEST_POSTGRES, default the local server of .ci/servers.sh); skipped without
    /// it unless MERCATO_REQUIRE_SCALEOUT=1 (CI), where it fails.
    /// </summary>
    public static async Task AssertScaleOutGeneratesTheSameFor<TProgram>(Type testClass, string service) where TProgram : class
    {
        AssertRunsAlone(testClass);
        var databases = new List<PostgresTestDatabase>();
        try
        {
            foreach (var style in SagaStyleNames)
            {
                databases.Add(await PostgresTestDatabase.CreateAsync($"codegen_{service}_{style.ToLowerInvariant()}"));
            }
            var hosts = SagaStyleNames.Select((style, i) => databases[i].ScaleOutHost<TProgram>(service, ("Ordering:SagaStyle", style))).ToList();
            try
            {
                AssertCommittedCodeIsCurrent([.. hosts.Select(host => host.Services)]);
            }
            finally
            {
                hosts.ForEach(host => host.Dispose());
            }
        }
        finally
        {
            foreach (var database in databases)
            {
                await database.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// A host started while the code-generation flag is up comes up in MediatorOnly mode and can publish nothing: its
    /// readiness says so (check "messaging" Unhealthy, 503), so no registry or orchestrator sends it traffic. A host
    /// started normally reports durable messaging ready.
    /// </summary>
    public static async Task AssertMediatorOnlyHostIsNotReadyFor<TProgram>(Type testClass) where TProgram : class
    {
        AssertRunsAlone(testClass);
        using var crippled = new ServiceFactory<TProgram>();
        DynamicCodeBuilder.WithinCodegenCommand = true;
        try
        {
            _ = crippled.Server; // builds and starts the host while the flag is up
        }
        finally
        {
            DynamicCodeBuilder.WithinCodegenCommand = false;
        }
        var refused = await crippled.CreateClient().GetAsync("/health/ready");
        var check = await MessagingCheckAsync(refused);
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal("Unhealthy", check.GetProperty("status").GetString());
        Assert.Contains("MediatorOnly", check.GetProperty("description").GetString(), StringComparison.Ordinal);

        using var normal = new ServiceFactory<TProgram>();
        var ready = await normal.CreateClient().GetAsync("/health/ready");
        Assert.Equal("Healthy", (await MessagingCheckAsync(ready)).GetProperty("status").GetString());
    }

    private static async Task<System.Text.Json.JsonElement> MessagingCheckAsync(HttpResponseMessage response) =>
        System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("checks").GetProperty("messaging");

    /// <summary>The test class is in <see cref="Collection"/>, and its assembly runs that collection alone.</summary>
    public static void AssertRunsAlone(Type testClass)
    {
        var joined = testClass.GetCustomAttributesData().Where(a => a.AttributeType == typeof(CollectionAttribute))
            .Select(a => a.ConstructorArguments[0].Value as string).SingleOrDefault();
        var runsAlone = testClass.Assembly.GetTypes()
            .SelectMany(type => type.GetCustomAttributesData().Where(a => a.AttributeType == typeof(CollectionDefinitionAttribute)))
            .Any(definition => definition.ConstructorArguments is [{ Value: Collection }]
                && definition.NamedArguments.Any(n => n.MemberName == nameof(CollectionDefinitionAttribute.DisableParallelization) && n.TypedValue.Value is true));
        Assert.True(joined == Collection && runsAlone,
            $"{testClass.Name} generates code: mark it [Collection(GeneratedHandlerCode.Collection)] and define that collection in " +
            "its assembly with DisableParallelization = true, or hosts started by parallel test classes come up in MediatorOnly mode.");
    }

    /// <summary>
    /// Every host passed in is one configuration of the same service (a saga style, say); the project's
    /// Internal/Generated folder must hold the union of their files, each exactly as generated, and nothing else.
    /// </summary>
    public static void AssertCommittedCodeIsCurrent(params IServiceProvider[] hosts)
    {
        var expected = new Dictionary<string, string>(StringComparer.Ordinal);
        string? projectDirectory = null;
        foreach (var services in hosts)
        {
            var root = Path.Combine(services.GetRequiredService<IHostEnvironment>().ContentRootPath, "Internal", "Generated");
            projectDirectory ??= root;
            var collections = services.GetServices<ICodeFileCollection>().ToArray();
            Assert.NotEmpty(collections);
            var temp = Path.Combine(Path.GetTempPath(), "mercato-codegen", Guid.NewGuid().ToString("N"));
            var original = collections.Select(collection => (Collection: collection, Path: collection.Rules.GeneratedCodeOutputPath)).ToList();
            foreach (var (collection, path) in original)
            {
                collection.Rules.GeneratedCodeOutputPath = Path.Combine(temp, Path.GetRelativePath(root, path));
            }
            try
            {
                new DynamicCodeBuilder(services, collections) { ServiceVariableSource = services.GetService<IServiceVariableSource>() }
                    .WriteGeneratedCode(_ => { });
                foreach (var file in Directory.EnumerateFiles(temp, "*.cs", SearchOption.AllDirectories))
                {
                    var key = Path.GetRelativePath(temp, file);
                    var text = File.ReadAllText(file);
                    if (expected.TryGetValue(key, out var other) && other != text)
                    {
                        Assert.Fail($"Two configurations of one service generate different code for {key}: give each its own " +
                            "codeVariant in AddMessaging.");
                    }
                    expected[key] = text;
                }
            }
            finally
            {
                // Collections may share one GenerationRules: put the paths back in reverse order.
                foreach (var (collection, path) in Enumerable.Reverse(original))
                {
                    collection.Rules.GeneratedCodeOutputPath = path;
                }
                Directory.Delete(temp, recursive: true);
            }
        }
        Assert.NotNull(projectDirectory);
        Assert.NotEmpty(expected);

        var onDisk = Directory.Exists(projectDirectory)
            ? Directory.EnumerateFiles(projectDirectory, "*.cs", SearchOption.AllDirectories)
                .ToDictionary(file => Path.GetRelativePath(projectDirectory, file), File.ReadAllText, StringComparer.Ordinal)
            : [];
        var stale = expected.Where(file => !onDisk.TryGetValue(file.Key, out var text) || text != file.Value).Select(file => file.Key)
            .Concat(onDisk.Keys.Where(file => !expected.ContainsKey(file)))
            .Order(StringComparer.Ordinal).ToList();
        if (stale.Count == 0)
        {
            return;
        }
        if (Writing)
        {
            if (Directory.Exists(projectDirectory))
            {
                Directory.Delete(projectDirectory, recursive: true);
            }
            foreach (var (file, text) in expected)
            {
                var path = Path.Combine(projectDirectory, file);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.WriteAllText(path, text);
            }
            return;
        }
        Assert.Fail($"The pre-generated handler code in {projectDirectory} is not what Wolverine generates for the handlers now " +
            $"(missing, changed or left over: {string.Join(", ", stale)}). Run `bash scripts/generate-handler-code.sh`, build and commit the result.");
    }
}
