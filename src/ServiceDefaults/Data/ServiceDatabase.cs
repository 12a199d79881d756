using Microsoft.AspNetCore.Builder;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Mercato.ServiceDefaults.Data;

/// <summary>Each service owns one database; this wires it the same way everywhere.</summary>
public static class ServiceDatabase
{
    /// <summary>
    /// Registers <typeparamref name="TContext"/> on the service's own database: the connection string
    /// <c>ConnectionStrings:{name}</c> if given, else a SQLite file <c>{Mercato:DataDir}/{name}.db</c> (default <c>.data/</c>).
    /// Adds the database to the readiness check.
    /// </summary>
    public static IHostApplicationBuilder AddServiceDatabase<TContext>(this IHostApplicationBuilder builder, string name)
        where TContext : DbContext
    {
        builder.Services.AddDbContext<TContext>(options => options.UseSqlite(ConnectionString(builder.Configuration, name)));
        builder.Services.AddHealthChecks().AddDbContextCheck<TContext>("database", tags: [HealthTags.Ready]);
        return builder;
    }

    /// <summary>The service's own database: ConnectionStrings:{name}, else the SQLite file {Mercato:DataDir}/{name}.db.</summary>
    public static string ConnectionString(IConfiguration config, string name) =>
        config.GetConnectionString(name) ?? SqliteFileConnectionString(config, name);

    /// <summary>Applies pending migrations before the service accepts requests.</summary>
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
