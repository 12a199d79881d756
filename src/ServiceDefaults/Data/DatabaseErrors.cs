using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Mercato.ServiceDefaults.Data;

/// <summary>Recognises database errors worth trying again, on either database engine.</summary>
public static class DatabaseErrors
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

    /// <summary>
    /// True when the database could not be used just now, anywhere in the exception's chain: a transient error
    /// (Npgsql marks connection failures and timeouts so) or SQLite's busy and locked, which it reports only after its
    /// own busy timeout has run out. Such an error can come from opening, beginning, querying or committing, not only
    /// from <c>SaveChanges</c>, so it often arrives unwrapped.
    /// </summary>
    public static bool IsTransientFailure(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is SqliteException { SqliteErrorCode: 5 or 6 } || e is DbException { IsTransient: true })
            {
                return true;
            }
        }
        return false;
    }
}
