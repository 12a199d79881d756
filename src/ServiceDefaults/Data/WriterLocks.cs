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
