using Microsoft.EntityFrameworkCore;

namespace Mercato.ServiceDefaults.Data;

/// <summary>
/// Locks held for the caller's transaction on PostgreSQL, which reads each statement at its own moment and runs writers
/// side by side under read committed. SQLite needs none: a transaction's first write takes the file's only write lock.
/// </summary>
public static class WriterLocks
{
    /// <summary>
    /// Makes the transactions that name the same key (one customer's basket) take turns: a delete that finds nothing
    /// locks nothing, so two replacements of an empty basket would both insert.
    /// </summary>
    public static async Task TakeTurnOnAsync(this DbContext db, string key, CancellationToken ct)
    {
        if (db.Database.IsNpgsql())
        {
            await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock(hashtextextended({key}, 0))", ct);
        }
    }

    /// <summary>
    /// For a rebuild that deletes derived rows and writes them again from a log: a writer committing between the delete
    /// and the read of the log would leave rows the rebuild then writes again. Holds writers of those tables off; reads go on.
    /// </summary>
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
