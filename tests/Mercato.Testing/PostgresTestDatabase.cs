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

    /// <summary>
    /// <typeparamref name="TProgram"/> in the scale-out profile on this database, with <paramref name="settings"/>
    /// besides. Its RabbitMQ is never connected to: the test host replaces external transports.
    /// </summary>
    public ConfiguredServiceFactory<TProgram> ScaleOutHost<TProgram>(string service, params (string Key, string Value)[] settings)
        where TProgram : class =>
        new([("Mercato:Profile", "ScaleOut"), ($"ConnectionStrings:{service}", ConnectionString),
            ("ConnectionStrings:rabbitmq", "amqp://guest:guest@127.0.0.1:5672/"), .. settings]);

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
