using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Mercato.ServiceDefaults.Messaging;

/// <summary>Recognises a write that lost a race on a unique key, on either database engine.</summary>
public static class WriteConflicts
{
    /// <summary>
    /// True when the save broke a unique index: e.g. two handlers appending version N of one event stream. Retrying
    /// re-reads the winner's state, so it is a concurrency conflict, not a bug.
    /// </summary>
    public static bool IsUniqueViolation(DbUpdateException exception) => exception.InnerException switch
    {
        PostgresException postgres => postgres.SqlState == PostgresErrorCodes.UniqueViolation,
        SqliteException sqlite => sqlite.SqliteExtendedErrorCode is 2067 or 1555, // SQLITE_CONSTRAINT_UNIQUE, _PRIMARYKEY
        _ => false,
    };
}
