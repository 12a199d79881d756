using Microsoft.AspNetCore.Builder;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Mercato.ServiceDefaults.Data;

/// <summary>Each service owns one database; this wires it the same way everywhere.</summary>
public static class ServiceDatabase
{
    /// <summary>
    /// Registers <typeparamref name="TContext"/> on the service's own database (see <see cref="UseServiceDatabase"/>)
    /// and adds it to the readiness check.
    /// </summary>
    public static IHostApplicationBuilder AddServiceDatabase<TContext>(this IHostApplicationBuilder builder, string name)
        where TContext : DbContext
    {
        var config = builder.Configuration;
        builder.Services.AddDbContext<TContext>(options => options.UseServiceDatabase(config, name));
        builder.Services.AddHealthChecks().AddDbContextCheck<TContext>("database", tags: [HealthTags.Ready]);
        return builder;
    }

    /// <summary>
    /// Embedded profile: the SQLite file <c>{Mercato:DataDir}/{name}.db</c> unless <c>ConnectionStrings:{name}</c> names
    /// another. Scale-out profile: PostgreSQL at <c>ConnectionStrings:{name}</c>, which must be given. Each provider
    /// applies its own migration set (<see cref="ProviderMigrationsAssembly"/>).
    /// </summary>
    public static DbContextOptionsBuilder UseServiceDatabase(this DbContextOptionsBuilder options, IConfiguration config, string name)
    {
        if (DeploymentProfiles.From(config) == DeploymentProfile.ScaleOut)
        {
            options.UseNpgsql(ConnectionString(config, name));
        }
        else
        {
            options.UseSqlite(ConnectionString(config, name));
        }
        return options.ReplaceService<IMigrationsAssembly, ProviderMigrationsAssembly>();
    }

    /// <summary>The service's own database: ConnectionStrings:{name}; in the embedded profile by default a SQLite file.</summary>
    public static string ConnectionString(IConfiguration config, string name) =>
        config.GetConnectionString(name)
        ?? (DeploymentProfiles.From(config) == DeploymentProfile.ScaleOut
            ? throw new InvalidOperationException($"The scale-out profile needs ConnectionStrings:{name} (env ConnectionStrings__{name}), a PostgreSQL connection string.")
            : SqliteFileConnectionString(config, name));

    /// <summary>
    /// Applies pending migrations before the service accepts requests. Several instances starting together are safe:
    /// EF Core takes a database lock around migrating.
    /// </summary>
    public static async Task MigrateDatabaseAsync<TContext>(this WebApplication app) where TContext : DbContext
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TContext>();
        await db.Database.MigrateAsync();
        if (db.Database.IsSqlite())
        {
            // WAL lets several instances of one service share their file; it is a property of the file, set once.
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;");
        }
    }

    private static string SqliteFileConnectionString(IConfiguration config, string name)
    {
        var dataDir = Path.GetFullPath(config["Mercato:DataDir"] ?? ".data");
        Directory.CreateDirectory(dataDir);
        return new SqliteConnectionStringBuilder
        {
            DataSource = Path.Combine(dataDir, name + ".db"),
            DefaultTimeout = 30,
            Pooling = true,
        }.ToString();
    }
}

public static class HealthTags
{
    public const string Live = "live";
    public const string Ready = "ready";
}
