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
        await migrator.MigrateAsync(Before(db, "PendingCheckoutPaymentMethod"));
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

    /// <summary>The migration just before <paramref name="name"/>.</summary>
    private static string Before(BasketDb db, string name)
    {
        var migrations = db.Database.GetMigrations().ToList();
        return migrations[migrations.FindIndex(m => m.EndsWith("_" + name, StringComparison.Ordinal)) - 1];
    }

    [Fact]
    public async Task Checkouts_answered_before_retention_count_as_answered_at_the_migration_on_sqlite()
    {
        await using var db = new BasketDb(ServiceDatabaseOptions.OnSqliteFile<BasketDb>("basket"));
        await AssertAnsweredAtBackfilledAsync(db);
    }

    [SkippableFact]
    public async Task Checkouts_answered_before_retention_count_as_answered_at_the_migration_on_postgresql()
    {
        await using var database = await PostgresTestDatabase.CreateAsync("basket_answered_at");
        await using var db = new BasketDb(ServiceDatabaseOptions.OnPostgres<BasketDb>(database, "basket"));
        await AssertAnsweredAtBackfilledAsync(db);
    }

    /// <summary>
    /// Each answered checkout keeps its whole retention window from the upgrade on (the purge would otherwise see no
    /// age, or take them all at once); an unanswered one stays unanswered.
    /// </summary>
    private static async Task AssertAnsweredAtBackfilledAsync(BasketDb db)
    {
        var migrator = db.GetService<IMigrator>();
        await migrator.MigrateAsync(Before(db, "CheckoutAnsweredAt"));
        await db.Database.ExecuteSqlAsync($"""
            INSERT INTO "Checkouts" ("CustomerId", "IdempotencyKey", "Items", "ResponseStatus", "ResponseBody")
            VALUES ({Guid.NewGuid()}, {"answered"}, {"[]"}, {202}, {"{}"})
            """);
        await db.Database.ExecuteSqlAsync($"""
            INSERT INTO "Checkouts" ("CustomerId", "IdempotencyKey", "Items") VALUES ({Guid.NewGuid()}, {"unanswered"}, {"[]"})
            """);
        var before = DateTimeOffset.UtcNow.UtcTicks;

        await migrator.MigrateAsync();

        var answeredAt = await db.Checkouts.AsNoTracking().ToDictionaryAsync(c => c.IdempotencyKey, c => c.AnsweredAtTicks);
        Assert.InRange(answeredAt["answered"]!.Value, before, DateTimeOffset.UtcNow.UtcTicks);
        Assert.Null(answeredAt["unanswered"]);
    }
}
