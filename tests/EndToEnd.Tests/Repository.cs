namespace Mercato.EndToEnd.Tests;

/// <summary>The checkout the tests run from.</summary>
public static class Repository
{
    /// <summary>The folder holding Mercato.slnx above the test's output folder.</summary>
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Mercato.slnx")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"Mercato.slnx not found above {AppContext.BaseDirectory}.");
    }
}
