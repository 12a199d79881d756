using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Mercato.Ordering.Tests;

/// <summary>
/// The stale-row clocks (Messaging:InboxStaleTime, on by default, and OutboxStaleTime, which the test factory switches on)
/// need a column that Wolverine adds to its inbox and outbox tables only when the settings are on: a database made by an
/// earlier build, or without the setting, must still start with it and carry messages.
/// </summary>
public sealed class InboxUpgradeTests
{
    [Fact]
    public async Task A_database_whose_inbox_and_outbox_predate_the_stale_clocks_gets_them_at_start_and_orders_flow()
    {
        await using var ordering = new OrderingFactory();
        var database = Path.Combine(ordering.DataDir, "ordering.db");
        await using (var earlier = ordering.WithWebHostBuilder(_ => { }))
        {
            _ = earlier.Services;
        }
        SqliteConnection.ClearAllPools();
        foreach (var table in Tables)
        {
            Assert.Contains("timestamp", await ColumnsAsync(database, table));
            await ExecuteAsync(database, $"ALTER TABLE {table} DROP COLUMN timestamp;");
            Assert.DoesNotContain("timestamp", await ColumnsAsync(database, table));
        }

        var client = ordering.CreateCustomerClient();
        var placed = await client.SendAsync(OrderingFactory.Place(new { items = new[] { new { productId = OrderingFactory.Mug, quantity = 1 } } }));

        Assert.Equal(HttpStatusCode.Accepted, placed.StatusCode);
        await ordering.SagaStartedAsync((await placed.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid());
        foreach (var table in Tables)
        {
            Assert.Contains("timestamp", await ColumnsAsync(database, table));
        }
    }

    private static readonly string[] Tables = ["wolverine_incoming_envelopes", "wolverine_outgoing_envelopes"];

    private static async Task<List<string>> ColumnsAsync(string database, string table)
    {
        await using var connection = new SqliteConnection($"Data Source={database};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT name FROM pragma_table_info('{table}');";
        var columns = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            columns.Add(reader.GetString(0));
        }
        return columns;
    }

    private static async Task ExecuteAsync(string database, string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={database};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }
}
