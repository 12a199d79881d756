using Mercato.Basket.Data;
using Mercato.ServiceDefaults.Http;
using Mercato.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

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
        await using var db = new BasketDb(ServiceDatabaseOptions.OnSqliteFile<BasketDb>("basket"));
        await AssertMethodsRecoveredAsync(db);
    }

    [SkippableFact]
    public async Task Unfinished_checkouts_from_before_get_their_payment_method_back_on_postgresql()
    {
        await using var database = await PostgresTestDatabase.CreateAsync("basket_payment_method");
        await using var db = new BasketDb(ServiceDatabaseOptions.OnPostgres<BasketDb>(database, "basket"));
        await AssertMethodsRecoveredAsync(db);
    }

    private static async Task AssertMethodsRecoveredAsync(BasketDb db)
    {
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
