using Mercato.Basket.Data;
using Mercato.ServiceDefaults.Data;
using Mercato.ServiceDefaults.Http;
using Mercato.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.Configuration;

namespace Mercato.Basket.Tests;

/// <summary>
/// A checkout left unfinished before basket kept its payment method must still be finishable: the retry has to send
/// the same method, and the storefront learns it from the basket. The migration recovers the storefront's methods from
/// the request hash; any other stays unknown.
/// </summary>
public sealed class MigrationTests
{
    [Fact]
    public async Task Unfinished_checkouts_from_before_get_their_payment_method_back_on_sqlite()
    {
        var file = Path.Combine(Path.GetTempPath(), "mercato-tests", $"basket-migration-{Guid.NewGuid():N}.db");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        await AssertMethodsRecoveredAsync(new() { ["ConnectionStrings:basket"] = $"Data Source={file}" });
    }

    [SkippableFact]
    public async Task Unfinished_checkouts_from_before_get_their_payment_method_back_on_postgresql()
    {
        await using var database = await PostgresTestDatabase.CreateAsync("basket_payment_method");
        await AssertMethodsRecoveredAsync(new() { ["Mercato:Profile"] = "ScaleOut", ["ConnectionStrings:basket"] = database.ConnectionString });
    }

    private static async Task AssertMethodsRecoveredAsync(Dictionary<string, string?> settings)
    {
        var options = new DbContextOptionsBuilder<BasketDb>();
        options.UseServiceDatabase(new ConfigurationBuilder().AddInMemoryCollection(settings).Build(), "basket");
        await using var db = new BasketDb(options.Options);
        var migrator = db.GetService<IMigrator>();
        var migrations = db.Database.GetMigrations().ToList();
        await migrator.MigrateAsync(migrations[^2]);
        (string Key, string Method)[] kept = [("declined", "tok_decline"), ("visa", "tok_visa"), ("none", ""), ("other", "tok_other")];
        foreach (var (key, method) in kept)
        {
            await db.Database.ExecuteSqlAsync($"""
                INSERT INTO "Checkouts" ("CustomerId", "IdempotencyKey", "Items", "RequestHash")
                VALUES ({Guid.NewGuid()}, {key}, {"[]"}, {IdempotencyKeyHeader.RequestHash(method)})
                """);
        }

        await migrator.MigrateAsync();

        var methods = await db.Checkouts.AsNoTracking().ToDictionaryAsync(c => c.IdempotencyKey, c => c.PaymentMethod);
        Assert.Equal(new Dictionary<string, string?> { ["declined"] = "tok_decline", ["visa"] = "tok_visa", ["none"] = null, ["other"] = null }, methods);
    }
}
