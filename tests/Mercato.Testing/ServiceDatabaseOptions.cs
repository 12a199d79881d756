using Mercato.ServiceDefaults.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;

namespace Mercato.Testing;

/// <summary>
/// A service's DbContext options as the service itself builds them (<see cref="ServiceDatabase"/>), for tests that work
/// on a database without the service around it: migrating step by step, several contexts at once.
/// </summary>
public static class ServiceDatabaseOptions
{
    /// <summary>The embedded profile, on a fresh SQLite file.</summary>
    public static DbContextOptions<TDb> OnSqliteFile<TDb>(string service) where TDb : DbContext
    {
        var file = Path.Combine(Path.GetTempPath(), "mercato-tests", $"{service}-{Guid.NewGuid():N}.db");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        return For<TDb>(service, new() { [$"ConnectionStrings:{service}"] = $"Data Source={file}" });
    }

    /// <summary>The scale-out profile, on <paramref name="database"/>.</summary>
    public static DbContextOptions<TDb> OnPostgres<TDb>(PostgresTestDatabase database, string service) where TDb : DbContext =>
        For<TDb>(service, new() { ["Mercato:Profile"] = "ScaleOut", [$"ConnectionStrings:{service}"] = database.ConnectionString });

    private static DbContextOptions<TDb> For<TDb>(string service, Dictionary<string, string?> settings) where TDb : DbContext
    {
        var options = new DbContextOptionsBuilder<TDb>();
        options.UseServiceDatabase(new ConfigurationBuilder().AddInMemoryCollection(settings).Build(), service);
        return options.Options;
    }
}
