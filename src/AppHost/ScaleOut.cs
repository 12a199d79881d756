using System.Security.Cryptography;
using Npgsql;

namespace Mercato.AppHost;

/// <summary>
/// The scale-out profile's servers: one PostgreSQL server with a database and a role of its own per service, and one
/// RabbitMQ broker. Both are external (installed by <c>.ci/servers.sh</c> locally, managed services in production);
/// the AppHost only prepares the databases and hands each service its connection strings.
/// </summary>
public sealed class ScaleOutServers(MercatoSettings settings)
{
    /// <summary>Services that own a database.</summary>
    public static readonly string[] DatabaseOwners = ["identity", "catalog", "inventory", "basket", "ordering", "payment", "notification", "analytics"];

    private readonly Dictionary<string, string> _connectionStrings = [];

    /// <summary>Database (and role) of a service: {instance}_{service}, so several systems can share one server.</summary>
    public static string DatabaseName(string instance, string service) => $"{instance}_{service}".ToLowerInvariant();

    /// <summary>Creates each service's role (with a fresh password) and database if missing. Idempotent.</summary>
    public async Task ProvisionAsync(CancellationToken ct = default)
    {
        var admin = new NpgsqlConnectionStringBuilder(settings.PostgresAdmin);
        await using var connection = new NpgsqlConnection(admin.ConnectionString);
        try
        {
            await connection.OpenAsync(ct);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
        {
            throw new InvalidOperationException(
                $"The scale-out profile needs PostgreSQL at {admin.Host}:{admin.Port} (Mercato:Postgres:Admin); start it with `sudo bash .ci/servers.sh`. {ex.Message}", ex);
        }
        foreach (var service in DatabaseOwners)
        {
            var name = DatabaseName(settings.InstanceName, service);
            var password = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
            // Identifiers cannot be parameters; they are built from [a-z0-9_] only (checked in MercatoSettings).
            await ExecuteAsync(connection, $"""
                DO $$ BEGIN
                  IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') THEN ALTER ROLE "{name}" LOGIN PASSWORD '{password}';
                  ELSE CREATE ROLE "{name}" LOGIN PASSWORD '{password}'; END IF;
                END $$;
                """, ct);
            if (!await ExistsAsync(connection, name, ct))
            {
                await ExecuteAsync(connection, $"""CREATE DATABASE "{name}" OWNER "{name}" """, ct);
            }
            _connectionStrings[service] = new NpgsqlConnectionStringBuilder
            {
                Host = admin.Host,
                Port = admin.Port,
                Database = name,
                Username = name,
                Password = password,
                MaxPoolSize = 20,
            }.ConnectionString;
        }
    }

    /// <summary>Drops the databases and roles of an instance (test systems clean up after themselves).</summary>
    public static async Task DropAsync(string postgresAdmin, string instance, CancellationToken ct = default)
    {
        await using var connection = new NpgsqlConnection(postgresAdmin);
        await connection.OpenAsync(ct);
        foreach (var service in DatabaseOwners)
        {
            var name = DatabaseName(instance, service);
            await ExecuteAsync(connection, $"""DROP DATABASE IF EXISTS "{name}" WITH (FORCE)""", ct);
            await ExecuteAsync(connection, $"""DROP ROLE IF EXISTS "{name}" """, ct);
        }
    }

    public string ConnectionString(string service) => _connectionStrings[service];

    public string RabbitMq => settings.RabbitMq;

    private static async Task<bool> ExistsAsync(NpgsqlConnection connection, string database, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = $1", connection) { Parameters = { new() { Value = database } } };
        return await command.ExecuteScalarAsync(ct) is not null;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(ct);
    }
}
