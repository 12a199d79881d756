using System.Data.Common;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

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
            options.UseSqlite(ConnectionString(config, name))
                .AddInterceptors(new SqliteConnectionPragmas(config.GetValue("Database:SqliteSynchronous", SqliteSynchronous.Normal)));
        }
        return options.ReplaceService<IMigrationsAssembly, ProviderMigrationsAssembly>();
    }

    /// <summary>The service's own database: ConnectionStrings:{name}; in the embedded profile by default a SQLite file.</summary>
    public static string ConnectionString(IConfiguration config, string name) =>
        config.GetConnectionString(name)
        ?? (DeploymentProfiles.From(config) == DeploymentProfile.ScaleOut
            ? throw new InvalidOperationException($"The scale-out profile needs ConnectionStrings:{name} (env ConnectionStrings__{name}), a PostgreSQL connection string.")
            : SqliteFileConnectionString(config, name));

    /// <summary>Applies pending migrations before the service accepts requests (<see cref="MigrateAsync"/>).</summary>
    public static async Task MigrateDatabaseAsync<TContext>(this WebApplication app) where TContext : DbContext
    {
        await using var scope = app.Services.CreateAsyncScope();
        await MigrateAsync(scope.ServiceProvider.GetRequiredService<TContext>());
    }

    /// <summary>
    /// Applies pending migrations; several instances of one service starting together are safe. On SQLite EF Core's own
    /// migration lock does it. On PostgreSQL it does not: EF's lock there is a table lock inside each migration's
    /// transaction, taken after the history table is created, and two replicas starting together both applied a
    /// migration (CI saw "column already exists", and duplicate pg_type rows from two CREATE TABLE IF NOT EXISTS).
    /// A session advisory lock held around the whole run, on a connection of its own, makes the second instance wait and
    /// then find nothing left to apply.
    /// </summary>
    public static async Task MigrateAsync(DbContext db, CancellationToken ct = default)
    {
        if (db.Database.IsSqlite())
        {
            // EF's lock is taken by every MigrateAsync, even with nothing to apply: a start that finds nothing pending
            // does not touch it, so a process killed while holding it cannot stop the next start.
            if ((await db.Database.GetPendingMigrationsAsync(ct)).Any())
            {
                await ReleaseStaleSqliteMigrationLockAsync(db, ct);
                await db.Database.MigrateAsync(ct);
            }
            // WAL lets several instances of one service share their file; it is a property of the file, set once.
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", ct);
            return;
        }
        if (!db.Database.IsNpgsql())
        {
            await db.Database.MigrateAsync(ct);
            return;
        }
        // Unpooled: a pooled connection would go back to the pool still holding the lock if the unlock never ran.
        var lockConnectionString = new NpgsqlConnectionStringBuilder(db.Database.GetConnectionString()) { Pooling = false }.ConnectionString;
        await using var lockConnection = new NpgsqlConnection(lockConnectionString);
        await lockConnection.OpenAsync(ct);
        await AdvisoryLockAsync(lockConnection, "pg_advisory_lock", ct);
        try
        {
            await db.Database.MigrateAsync(ct);
        }
        finally
        {
            await AdvisoryLockAsync(lockConnection, "pg_advisory_unlock", CancellationToken.None);
        }
    }

    /// <summary>How old EF Core's SQLite migration lock must be before a start takes it as left by a dead process.</summary>
    /// <remarks>Applying this project's migrations takes seconds; a live holder releases the lock long before.</remarks>
    public static readonly TimeSpan StaleMigrationLock = TimeSpan.FromMinutes(2);

    /// <summary>
    /// EF Core's SQLite migration lock is a row in <c>__EFMigrationsLock</c> that only its holder deletes, and EF waits
    /// for it without end. While the row is younger than <see cref="StaleMigrationLock"/> this waits for its holder
    /// (another instance migrating the same file); an older row was left by a process that died holding it, and goes.
    /// </summary>
    private static async Task ReleaseStaleSqliteMigrationLockAsync(DbContext db, CancellationToken ct)
    {
        var connection = db.Database.GetDbConnection();
        await db.Database.OpenConnectionAsync(ct);
        try
        {
            if (Convert.ToInt64(await ScalarAsync(connection, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '__EFMigrationsLock';", null, ct), CultureInfo.InvariantCulture) == 0)
            {
                return;
            }
            DateTimeOffset? unreadableSince = null;
            while (await ScalarAsync(connection, """SELECT "Timestamp" FROM "__EFMigrationsLock";""", null, ct) is string taken)
            {
                var takenAt = DateTimeOffset.TryParse(taken, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed)
                    ? parsed
                    : unreadableSince ??= DateTimeOffset.UtcNow;
                if (DateTimeOffset.UtcNow - takenAt >= StaleMigrationLock)
                {
                    // Another instance may have released the same row first: only the one that deleted it says so.
                    if (Convert.ToInt64(await ScalarAsync(connection, """DELETE FROM "__EFMigrationsLock" WHERE "Timestamp" = $taken; SELECT changes();""", taken, ct), CultureInfo.InvariantCulture) == 1)
                    {
                        db.GetService<ILoggerFactory>().CreateLogger(typeof(ServiceDatabase).FullName!)
                            .LogWarning("Released EF Core's migration lock taken at {TakenAt} and never released: its process died holding it", taken);
                    }
                    return;
                }
                await Task.Delay(TimeSpan.FromSeconds(1), ct);
            }
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }

    private static async Task<object?> ScalarAsync(DbConnection connection, string sql, string? taken, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        if (taken is not null)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = "$taken";
            parameter.Value = taken;
            command.Parameters.Add(parameter);
        }
        return await command.ExecuteScalarAsync(ct);
    }

    // Advisory locks are per database, so one key serves every service's own database.
    private const long MigrationLockKey = 0x4D_6572_6361_746F; // "Mercato"

    private static async Task AdvisoryLockAsync(NpgsqlConnection connection, string function, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand($"SELECT {function}(@key)", connection);
        command.Parameters.AddWithValue("key", MigrationLockKey);
        await command.ExecuteScalarAsync(ct);
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

/// <summary>How hard SQLite pushes each commit to the disk (PRAGMA synchronous).</summary>
public enum SqliteSynchronous
{
    /// <summary>
    /// In WAL mode a commit survives the process being killed at any point; only a power loss or OS crash can roll
    /// back the last commits (never corrupt the file). What Wolverine's own SQLite connections use.
    /// </summary>
    Normal,

    /// <summary>Also survives power loss: an fsync per commit, ~2 ms each on this project's machine (docs/benchmarks.md).</summary>
    Full,
}

/// <summary>
/// Per-connection SQLite settings for every connection EF Core opens (they live in the connection, not in the file):
/// <list type="bullet">
/// <item><c>synchronous</c> from <c>Database:SqliteSynchronous</c>: SQLite's default (FULL) fsyncs every commit, which
/// capped each service at a few hundred commits a second, far below what the saga needs.</item>
/// <item><c>busy_timeout</c> = the connection's timeout: a writer that finds the file locked by another writer waits
/// inside SQLite, retrying within milliseconds. Without it Microsoft.Data.Sqlite retries on its own with a fixed
/// 150 ms <c>Thread.Sleep</c>, so under concurrent writes every collision cost 150 ms and a blocked thread-pool thread.
/// Wolverine's own SQLite connections set both the same way (Weasel's defaults).</item>
/// </list>
/// </summary>
public sealed class SqliteConnectionPragmas(SqliteSynchronous synchronous) : DbConnectionInterceptor
{
    private readonly string _synchronous = synchronous.ToString().ToUpperInvariant();

    // SqliteConnection's own timeout is DefaultTimeout (Default Timeout in the connection string); its inherited
    // ConnectionTimeout is ADO.NET's fixed 15 s.
    private string PragmasFor(DbConnection connection) =>
        $"PRAGMA synchronous={_synchronous}; PRAGMA busy_timeout={Math.Max(1, (connection as SqliteConnection)?.DefaultTimeout ?? 30) * 1000};";

    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData)
    {
        using var command = connection.CreateCommand();
        command.CommandText = PragmasFor(connection);
        command.ExecuteNonQuery();
    }

    public override async Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = PragmasFor(connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
