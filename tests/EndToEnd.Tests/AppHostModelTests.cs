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
            var assembly = Path.GetFileNameWithoutExtension(project.GetProjectMetadata().ProjectPath) + ".dll";
            var args = new List<object>();
            foreach (var callback in project.Annotations.OfType<CommandLineArgsCallbackAnnotation>())
            {
                await callback.Callback(new CommandLineArgsCallbackContext(args));
            }
            Assert.Contains(args.OfType<string>(), arg => arg.EndsWith(assembly, StringComparison.Ordinal) && File.Exists(arg));
        }
    }

    [Fact]
    public async Task Dotnet_run_stays_available_for_comparison()
    {
        var projects = await ProjectsAsync("--Mercato:RunBuiltAssemblies=false");

        Assert.All(projects, project => Assert.False(project.TryGetLastAnnotation<ExecutableAnnotation>(out _), project.Name));
    }
}
