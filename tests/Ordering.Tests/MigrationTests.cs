using Mercato.Ordering.Data;
using Mercato.ServiceDefaults.Data;
using Mercato.Testing;
using Microsoft.EntityFrameworkCore;

namespace Mercato.Ordering.Tests;

public sealed class MigrationTests
{
    /// <summary>
    /// Replicas of a service start together in the scale-out profile and each migrates its database at start-up. Six
    /// migrating one fresh PostgreSQL database at once must all succeed, with every migration applied. Needs PostgreSQL
    /// (MERCATO_TEST_POSTGRES, default the local server of .ci/servers.sh); skipped without it unless
    /// MERCATO_REQUIRE_SCALEOUT=1 (CI), where it fails.
    /// </summary>
    [SkippableFact]
    public async Task Instances_starting_together_migrate_one_postgresql_database_without_failing()
    {
        await using var database = await PostgresTestDatabase.CreateAsync("migrate_together");
        var instances = Enumerable.Range(0, 6)
            .Select(_ => new OrderingDb(ServiceDatabaseOptions.OnPostgres<OrderingDb>(database, "ordering")))
            .ToList();
        try
        {
            await Task.WhenAll(instances.Select(db => Task.Run(() => ServiceDatabase.MigrateAsync(db))));

            Assert.Equal(instances[0].Database.GetMigrations(), await instances[0].Database.GetAppliedMigrationsAsync());
        }
        finally
        {
            foreach (var db in instances)
            {
                await db.DisposeAsync();
            }
        }
    }
}
