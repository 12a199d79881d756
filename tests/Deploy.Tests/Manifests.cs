using System.Diagnostics;
using k8s;
using k8s.Models;

namespace Mercato.Deploy.Tests;

/// <summary>The Kustomize overlays under deploy/, rendered by <c>kubectl kustomize</c> and read as Kubernetes objects.</summary>
public static class Manifests
{
    public static readonly string[] Services = ["registry", "gateway", "identity", "catalog", "inventory", "basket", "ordering", "payment", "notification", "analytics"];

    /// <summary>The services with a database of their own.</summary>
    public static readonly string[] DatabaseOwners = ["identity", "catalog", "inventory", "basket", "ordering", "payment", "notification", "analytics"];

    public static readonly string[] MessagingServices = ["inventory", "ordering", "payment", "notification", "analytics"];

    public static string Root { get; } = FindRoot();

    /// <summary>The rendered YAML of an overlay (a path under deploy/).</summary>
    public static string Render(string overlay)
    {
        var kubectl = Kubectl();
        var start = new ProcessStartInfo(kubectl, ["kustomize", Path.Combine(Root, "deploy", overlay)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"kubectl kustomize deploy/{overlay} failed: {error.Result}");
        return output.Result;
    }

    /// <summary>
    /// Every object of the overlay as its typed model. Strict: a field the Kubernetes API does not know, or a value of
    /// the wrong type, throws, which is the schema check.
    /// </summary>
    public static List<object> Load(string overlay) => KubernetesYaml.LoadAllFromString(Render(overlay), strict: true);

    private static string Kubectl()
    {
        var found = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(dir => Path.Combine(dir, "kubectl"))
            .FirstOrDefault(File.Exists);
        var required = Environment.GetEnvironmentVariable("MERCATO_CI") == "1";
        Skip.If(found is null && !required, "kubectl is not installed: the manifests are rendered with `kubectl kustomize` (CI installs it).");
        Assert.True(found is not null, "kubectl is required in CI to render the manifests.");
        return found!;
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Mercato.slnx")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Mercato.slnx not found above the test's folder.");
    }

    public static V1Container App(this V1Deployment deployment) => Assert.Single(deployment.Spec.Template.Spec.Containers, c => c.Name == "app");
}
