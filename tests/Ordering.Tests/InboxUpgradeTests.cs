using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Mercato.Ordering.Tests;

/// <summary>
/// The inbox's stale-row clock (Messaging:InboxStaleTime) needs a column that Wolverine adds to its inbox table only when
/// the setting is on: a database made by an earlier build, without it, must still start and carry messages.
/// </summary>
public sealed class InboxUpgradeTests
{
    [Fact]
    public async Task A_database_whose_inbox_predates_the_stale_clock_gets_it_at_start_and_orders_flow()
    {
        await using var ordering = new OrderingFactory();
        var database = Path.Combine(ordering.DataDir, "ordering.db");
        await using (var earlier = ordering.WithWebHostBuilder(_ => { }))
        {
            _ = earlier.Services;
        }
        SqliteConnection.ClearAllPools();
        Assert.Contains("timestamp", await InboxColumnsAsync(database));
        await ExecuteAsync(database, "ALTER TABLE wolverine_incoming_envelopes DROP COLUMN timestamp;");
        Assert.DoesNotContain("timestamp", await InboxColumnsAsync(database));

        var client = ordering.CreateCustomerClient();
        var placed = await client.SendAsync(OrderingFactory.Place(new { items = new[] { new { productId = OrderingFactory.Mug, quantity = 1 } } }));

        Assert.Equal(HttpStatusCode.Accepted, placed.StatusCode);
        await ordering.SagaStartedAsync((await placed.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orderId").GetGuid());
        Assert.Contains("timestamp", await InboxColumnsAsync(database));
    }

    private static async Task<List<string>> InboxColumnsAsync(string database)
    {
        await using var connection = new SqliteConnection($"Data Source={database};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT name FROM pragma_table_info('wolverine_incoming_envelopes');";
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
