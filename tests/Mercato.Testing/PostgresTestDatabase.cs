using Npgsql;
using Xunit;

namespace Mercato.Testing;

/// <summary>
/// A fresh PostgreSQL database for one test, dropped when disposed. Needs PostgreSQL (MERCATO_TEST_POSTGRES, default the
/// local server of .ci/servers.sh); the test is skipped without it unless MERCATO_REQUIRE_SCALEOUT=1 (CI), where it fails.
/// </summary>
public sealed class PostgresTestDatabase : IAsyncDisposable
{
    public static string AdminConnectionString { get; } =
        Environment.GetEnvironmentVariable("MERCATO_TEST_POSTGRES") ?? "Host=127.0.0.1;Port=5432;Username=postgres;Password=postgres";

    private PostgresTestDatabase(string name) => Name = name;

    public string Name { get; }

    public string ConnectionString => new NpgsqlConnectionStringBuilder(AdminConnectionString) { Database = Name }.ConnectionString;

    /// <summary>Creates a database named <paramref name="prefix"/> plus a unique suffix.</summary>
    public static async Task<PostgresTestDatabase> CreateAsync(string prefix)
    {
        var database = new PostgresTestDatabase($"{prefix}_{Guid.NewGuid():N}");
        try
        {
            await ExecuteAsync($"CREATE DATABASE \"{database.Name}\"");
        }
        catch (Exception ex) when (ex is NpgsqlException or System.Net.Sockets.SocketException
            && Environment.GetEnvironmentVariable("MERCATO_REQUIRE_SCALEOUT") != "1")
        {
            throw new SkipException($"PostgreSQL not reachable ({ex.Message}); run `sudo bash .ci/servers.sh`.");
        }
        return database;
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await ExecuteAsync($"DROP DATABASE IF EXISTS \"{Name}\" WITH (FORCE)");
    }

    private static async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(AdminConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
