using Mercato.Identity.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using System.ComponentModel.DataAnnotations;
using Mercato.ServiceDefaults.Configuration;

namespace Mercato.Identity;

/// <summary>Per-account lockout after repeated wrong passwords (configuration section <c>Identity:Lockout</c>).</summary>
public sealed class SignInLockoutOptions
{
    /// <summary>Wrong passwords in a row that lock the account; ASP.NET Core Identity's default.</summary>
    [Range(1, int.MaxValue, ErrorMessage = "Identity:Lockout:MaxFailedAttempts must be from {1} to {2}.")]
    public int MaxFailedAttempts { get; set; } = 5;

    [Range(typeof(TimeSpan), "00:00:01", SettingBounds.MaxSpan, ErrorMessage = "Identity:Lockout:Duration must be from {1} to {2}.")]
    public TimeSpan Duration { get; set; } = TimeSpan.FromMinutes(5);
}

/// <summary>
/// Counts wrong passwords per account and locks it for a while once they reach the limit. The gateway's credential
/// bucket limits guesses per client address; this limits them per account, whatever addresses they come from.
/// An attempt is counted before its password is checked, in one SQL update that only succeeds while the account is not
/// locked and has attempts left: a burst of guesses sent at once cannot all be checked against an account that each of
/// them read as unlocked. (ASP.NET Core Identity's UserManager counts after the check, by read-modify-write.)
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

    /// <summary>
    /// Takes one of the account's attempts, as <paramref name="user"/> was read (not locked). False when it was locked
    /// meanwhile, or when attempts in flight and failed ones already use up the limit.
    /// </summary>
    public async Task<bool> TryTakeAttemptAsync(User user, CancellationToken ct)
    {
        var limit = _options.MaxFailedAttempts;
        var lockedUntil = user.LockedOutUntil;
        var now = time.GetUtcNow();
        return await db.Users.Where(u => u.Id == user.Id && u.FailedSignIns < limit && u.LockedOutUntil == lockedUntil)
            .ExecuteUpdateAsync(set => set.SetProperty(u => u.FailedSignIns, u => u.FailedSignIns + 1).SetProperty(u => u.LastAttemptAt, now), ct) == 1;
    }

    /// <summary>The attempt taken was a wrong password: it stays counted, and a count at the limit locks the account.</summary>
    public Task LockIfSpentAsync(User user) => LockAsync(db.Users.Where(u => u.Id == user.Id));

    /// <summary>
    /// No attempt could be taken and the account is not locked. Attempts still in flight (sign-ins sent at once) leave
    /// it as it is; attempts at the limit whose outcome was never recorded (the process stopped mid-check) would leave
    /// it refusing every sign-in for good, so once the last of them is older than any check takes, they lock it.
    /// </summary>
    /// <returns>How long the account is locked for, or null if it was not.</returns>
    public async Task<TimeSpan?> LockIfAttemptsWereLostAsync(User current)
    {
        if (current.FailedSignIns < _options.MaxFailedAttempts || current.LastAttemptAt > time.GetUtcNow() - InFlightAttemptTimeout)
        {
            return null;
        }
        var lastAttempt = current.LastAttemptAt;
        return await LockAsync(db.Users.Where(u => u.Id == current.Id && u.LastAttemptAt == lastAttempt)) ? _options.Duration : null;
    }

    /// <summary>
    /// Locks the account among <paramref name="account"/> whose count is at the limit, and starts a new count, as
    /// ASP.NET Core Identity does: after the lockout the account has the full number of attempts again. Not
    /// cancellable: a client that goes away must not leave its attempt half recorded.
    /// </summary>
    private async Task<bool> LockAsync(IQueryable<User> account)
    {
        var limit = _options.MaxFailedAttempts;
        var until = time.GetUtcNow() + _options.Duration;
        return await account.Where(u => u.FailedSignIns >= limit).ExecuteUpdateAsync(set => set
            .SetProperty(u => u.LockedOutUntil, until)
            .SetProperty(u => u.FailedSignIns, 0), CancellationToken.None) == 1;
    }

    /// <summary>Longer than any password check takes, however busy the machine.</summary>
    public static readonly TimeSpan InFlightAttemptTimeout = TimeSpan.FromSeconds(30);

    /// <summary>A sign-in starts the count again (not cancellable, as above).</summary>
    public Task RecordSuccessAsync(User user) =>
        db.Users.Where(u => u.Id == user.Id).ExecuteUpdateAsync(set => set.SetProperty(u => u.FailedSignIns, 0), CancellationToken.None);
}
