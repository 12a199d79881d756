using Mercato.Ordering.Data;
using Mercato.ServiceDefaults.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Npgsql;

namespace Mercato.Ordering.Tests;

public sealed class MigrationTests
{
    /// <summary>
    /// Replicas of a service start together in the scale-out profile and each migrates its database at start-up. Six
    /// migrating one fresh PostgreSQL database at once must all succeed, with every migration applied. Needs PostgreSQL
    /// (MERCATO_TEST_POSTGRES, default the local server of .ci/servers.sh); skipped without it unless
    /// MERCATO_REQUIRE_SCALEOUT=1 (CI), where it fails.
    /// </summary>
    [SkippableFact]
    public async Task Instances_starting_together_migrate_one_postgresql_database_without_failing()
    {
        var admin = Environment.GetEnvironmentVariable("MERCATO_TEST_POSTGRES") ?? "Host=127.0.0.1;Port=5432;Username=postgres;Password=postgres";
        var database = $"migrate_together_{Guid.NewGuid():N}";
        try
        {
            await ExecuteAsync(admin, $"CREATE DATABASE \"{database}\"");
        }
        catch (Exception ex) when (ex is NpgsqlException or System.Net.Sockets.SocketException
            && Environment.GetEnvironmentVariable("MERCATO_REQUIRE_SCALEOUT") != "1")
        {
            throw new SkipException($"PostgreSQL not reachable ({ex.Message}); run `sudo bash .ci/servers.sh`.");
        }
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Mercato:Profile"] = "ScaleOut",
            ["ConnectionStrings:ordering"] = new NpgsqlConnectionStringBuilder(admin) { Database = database }.ConnectionString,
        }).Build();
        var instances = Enumerable.Range(0, 6)
            .Select(_ =>
            {
                var options = new DbContextOptionsBuilder<OrderingDb>();
                options.UseServiceDatabase(config, "ordering");
                return new OrderingDb(options.Options);
            })
            .ToList();
        try
        {
            await Task.WhenAll(instances.Select(db => Task.Run(() => ServiceDatabase.MigrateAsync(db))));

            Assert.Equal(instances[0].Database.GetMigrations(), await instances[0].Database.GetAppliedMigrationsAsync());
        }
        finally
        {
            foreach (var db in instances)
            {
                await db.DisposeAsync();
            }
            NpgsqlConnection.ClearAllPools();
            await ExecuteAsync(admin, $"DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)");
        }
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
