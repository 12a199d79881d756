using Microsoft.EntityFrameworkCore;

namespace Mercato.ServiceDefaults.Data;

/// <summary>
/// For a rebuild that deletes derived rows and writes them again from a log, in the caller's transaction. PostgreSQL
/// reads each statement at its own moment, so a writer committing between the delete and the read of the log leaves
/// rows the rebuild then writes again. Holding writers of those tables off for the transaction closes that gap (reads
/// go on). SQLite needs nothing: the transaction's first write takes the file's only write lock.
/// </summary>
public static class WriterLocks
{
    /// <summary>
    /// Makes the transactions that name the same key (one customer's basket) take turns on PostgreSQL, which runs
    /// writers side by side under read committed: a delete that finds nothing locks nothing, so two replacements of an
    /// empty basket would both insert. Held until the caller's transaction ends. SQLite needs nothing, as above.
    /// </summary>
    public static async Task TakeTurnOnAsync(this DbContext db, string key, CancellationToken ct)
    {
        if (db.Database.IsNpgsql())
        {
            await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock(hashtextextended({key}, 0))", ct);
        }
    }

    public static async Task HoldWritersOffAsync(this DbContext db, CancellationToken ct, params string[] tables)
    {
        if (db.Database.IsNpgsql())
        {
            var names = string.Join(", ", tables.Select(t => $"\"{t.Replace("\"", "\"\"", StringComparison.Ordinal)}\""));
#pragma warning disable EF1002 // The table names are the model's own, quoted; nothing comes from a request.
            await db.Database.ExecuteSqlRawAsync($"LOCK TABLE {names} IN EXCLUSIVE MODE", ct);
#pragma warning restore EF1002
        }
    }
}
