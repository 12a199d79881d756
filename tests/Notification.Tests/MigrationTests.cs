using Mercato.Notification.Data;
using Mercato.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Mercato.Notification.Tests;

/// <summary>
/// Notifications recorded before <c>SentAt</c> existed were sent by the handler that recorded them, so the migration
/// that adds the column marks them sent; otherwise they would read as queued, waiting for a send that never comes.
/// </summary>
public sealed class MigrationTests
{
    [Fact]
    public async Task Notifications_from_before_sent_at_existed_read_as_sent_on_sqlite()
    {
        await using var db = new NotificationDb(ServiceDatabaseOptions.OnSqliteFile<NotificationDb>("notification"));
        await AssertOldNotificationsReadAsSentAsync(db);
    }

    [SkippableFact]
    public async Task Notifications_from_before_sent_at_existed_read_as_sent_on_postgresql()
    {
        await using var database = await PostgresTestDatabase.CreateAsync("notification_sent_at");
        await using var db = new NotificationDb(ServiceDatabaseOptions.OnPostgres<NotificationDb>(database, "notification"));
        await AssertOldNotificationsReadAsSentAsync(db);
    }

    private static async Task AssertOldNotificationsReadAsSentAsync(NotificationDb db)
    {
        var migrator = db.GetService<IMigrator>();
        await migrator.MigrateAsync(db.Database.GetMigrations().First());
        var createdAt = new DateTimeOffset(2026, 11, 27, 10, 30, 0, TimeSpan.Zero);
        await db.Database.ExecuteSqlAsync($"""
            INSERT INTO "Notifications" ("Id", "CustomerId", "OrderId", "Type", "Message", "CreatedAt", "CreatedAtTicks")
            VALUES ({Guid.NewGuid()}, {Guid.NewGuid()}, {Guid.NewGuid()}, {"OrderConfirmed"}, {"Your order is confirmed."}, {createdAt}, {createdAt.UtcTicks})
            """);

        await migrator.MigrateAsync();

        var old = await db.Notifications.AsNoTracking().SingleAsync();
        Assert.Equal(createdAt, old.SentAt);
    }
}
