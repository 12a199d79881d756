using System.Net;
using Mercato.Testing;
using Microsoft.Data.Sqlite;

namespace Mercato.Catalog.Tests;

/// <summary>
/// EF Core's migration lock on SQLite is a row in <c>__EFMigrationsLock</c>, taken at every start and deleted after the
/// migrations commit; nothing in EF ever expires it. A process killed between the two leaves the row, and every later
/// start of the service waited on it for ever: it never listened, never registered, never became ready.
/// </summary>
public sealed class MigrationLockTests
{
    // A hang shows as this bound passing; a start takes a few seconds.
    private static readonly TimeSpan StartBound = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task A_lock_row_left_by_a_killed_start_does_not_stop_the_next_start()
    {
        await using var catalog = new ServiceFactory<Program>();
        await StartAndStopAsync(catalog);
        await ExecuteAsync(catalog, """INSERT INTO "__EFMigrationsLock" ("Id", "Timestamp") VALUES (1, '2000-01-01 00:00:00.0000000+00:00');""");

        var client = await Task.Run(catalog.CreateClient).WaitAsync(StartBound);

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/ready")).StatusCode);
    }

    [Fact]
    public async Task A_stale_lock_row_before_migrations_still_to_apply_is_cleared_and_they_are_applied()
    {
        await using var catalog = new ServiceFactory<Program>();
        Directory.CreateDirectory(catalog.DataDir);
        // A file whose migrations were never applied, holding the lock row of a start that did not live to apply them.
        await ExecuteAsync(catalog, """
            CREATE TABLE "__EFMigrationsLock" ("Id" INTEGER NOT NULL CONSTRAINT "PK___EFMigrationsLock" PRIMARY KEY, "Timestamp" TEXT NOT NULL);
            INSERT INTO "__EFMigrationsLock" ("Id", "Timestamp") VALUES (1, '2000-01-01 00:00:00.0000000+00:00');
            """);

        var client = await Task.Run(catalog.CreateClient).WaitAsync(StartBound);

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/ready")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/catalog/products")).StatusCode);
        Assert.Null(await ScalarAsync(catalog, """SELECT "Id" FROM "__EFMigrationsLock";"""));
    }

    [Fact]
    public async Task A_recent_lock_row_is_another_instance_migrating_and_is_waited_for()
    {
        await using var catalog = new ServiceFactory<Program>();
        Directory.CreateDirectory(catalog.DataDir);
        await ExecuteAsync(catalog, $"""
            CREATE TABLE "__EFMigrationsLock" ("Id" INTEGER NOT NULL CONSTRAINT "PK___EFMigrationsLock" PRIMARY KEY, "Timestamp" TEXT NOT NULL);
            INSERT INTO "__EFMigrationsLock" ("Id", "Timestamp") VALUES (1, '{DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm:ss.fffffffzzz}');
            """);

        var starting = Task.Run(catalog.CreateClient);
        await Task.Delay(TimeSpan.FromSeconds(3));
        var heldMeanwhile = await ScalarAsync(catalog, """SELECT "Id" FROM "__EFMigrationsLock";""");
        var startedMeanwhile = starting.IsCompleted;
        // The other instance finishes.
        await ExecuteAsync(catalog, """DELETE FROM "__EFMigrationsLock";""");
        var client = await starting.WaitAsync(StartBound);

        Assert.Equal("1", heldMeanwhile);
        Assert.False(startedMeanwhile);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/catalog/products")).StatusCode);
    }

    private static async Task StartAndStopAsync(ServiceFactory<Program> catalog)
    {
        await using (var first = catalog.WithWebHostBuilder(_ => { }))
        {
            _ = first.Services;
        }
        SqliteConnection.ClearAllPools();
    }

    private static async Task ExecuteAsync(ServiceFactory<Program> catalog, string sql)
    {
        await using var connection = Open(catalog);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<string?> ScalarAsync(ServiceFactory<Program> catalog, string sql)
    {
        await using var connection = Open(catalog);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (await command.ExecuteScalarAsync())?.ToString();
    }

    private static SqliteConnection Open(ServiceFactory<Program> catalog) =>
        new($"Data Source={Path.Combine(catalog.DataDir, "catalog.db")};Pooling=False");
}
