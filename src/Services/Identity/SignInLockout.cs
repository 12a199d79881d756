using Mercato.Identity.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Mercato.Identity;

/// <summary>Per-account lockout after repeated wrong passwords (configuration section <c>Identity:Lockout</c>).</summary>
public sealed class SignInLockoutOptions
{
    /// <summary>Wrong passwords in a row that lock the account; ASP.NET Core Identity's default.</summary>
    public int MaxFailedAttempts { get; set; } = 5;

    public TimeSpan Duration { get; set; } = TimeSpan.FromMinutes(5);
}

/// <summary>
/// Counts wrong passwords per account and locks it for a while once they reach the limit. The gateway's credential
/// bucket limits guesses per client address; this limits them per account, whatever addresses they come from.
/// Counting is one SQL update, so guesses sent in parallel are all counted.
/// </summary>
public sealed class SignInLockout(IdentityDb db, TimeProvider time, IOptions<SignInLockoutOptions> options)
{
    private readonly SignInLockoutOptions _options = options.Value;

    /// <summary>How long the account stays locked, or null if it may sign in.</summary>
    public TimeSpan? RemainingLockout(User user)
    {
        var remaining = user.LockedOutUntil - time.GetUtcNow();
        return remaining > TimeSpan.Zero ? remaining : null;
    }

    public Task RecordFailureAsync(User user, CancellationToken ct)
    {
        // Reaching the limit locks the account and starts a new count, as ASP.NET Core Identity does: after the
        // lockout the account has the full number of attempts again. Both columns read the row's old values.
        var limit = _options.MaxFailedAttempts;
        var until = time.GetUtcNow() + _options.Duration;
        return db.Users.Where(u => u.Id == user.Id).ExecuteUpdateAsync(set => set
            .SetProperty(u => u.LockedOutUntil, u => u.FailedSignIns + 1 >= limit ? until : u.LockedOutUntil)
            .SetProperty(u => u.FailedSignIns, u => u.FailedSignIns + 1 >= limit ? 0 : u.FailedSignIns + 1), ct);
    }

    public async Task RecordSuccessAsync(User user, CancellationToken ct)
    {
        if (user.FailedSignIns > 0)
        {
            await db.Users.Where(u => u.Id == user.Id).ExecuteUpdateAsync(set => set.SetProperty(u => u.FailedSignIns, 0), ct);
        }
    }
}
