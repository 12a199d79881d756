using Mercato.Basket.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using System.ComponentModel.DataAnnotations;
using Mercato.ServiceDefaults.Configuration;

namespace Mercato.Basket;

/// <summary>Settings of <see cref="CheckoutRetention"/> (section "Basket").</summary>
public sealed class CheckoutRetentionOptions
{
    /// <summary>How long an answered checkout keeps answering a retry of its Idempotency-Key with the same result.</summary>
    [Range(typeof(TimeSpan), "00:00:01", SettingBounds.MaxSpan, ErrorMessage = "Basket:CheckoutRetention must be from {1} to {2}.")]
    public TimeSpan CheckoutRetention { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How often answered checkouts older than that are deleted.</summary>
    [Range(typeof(TimeSpan), SettingBounds.MinPeriod, SettingBounds.MaxPeriod, ErrorMessage = "Basket:CheckoutPurgeInterval must be from {1} to {2}.")]
    public TimeSpan CheckoutPurgeInterval { get; set; } = TimeSpan.FromHours(1);
}

/// <summary>
/// Every checkout is recorded with ordering's answer, so that a retry with its key gets that answer again. Kept for ever,
/// they grew by a row and a response body per order. An answered checkout is kept for the retention window (24 h, like
/// common payment APIs' idempotency keys) and then deleted; an unanswered one never is: it holds the basket's lines
/// until a retry finishes it. After the window a reused key is refused (422): ordering still knows it, with its order.
/// </summary>
public sealed class CheckoutRetention(IServiceScopeFactory scopes, IOptions<CheckoutRetentionOptions> options, TimeProvider time,
    ILogger<CheckoutRetention> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.CheckoutPurgeInterval, time);
        do
        {
            try
            {
                await using var scope = scopes.CreateAsyncScope();
                var purged = await PurgeAsync(scope.ServiceProvider.GetRequiredService<BasketDb>(), time.GetUtcNow() - options.Value.CheckoutRetention, stoppingToken);
                if (purged > 0)
                {
                    logger.LogInformation("Deleted {Count} checkouts answered more than {Retention} ago", purged, options.Value.CheckoutRetention);
                }
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                // The next round tries again; a database that is down for a while only delays the purge.
                logger.LogWarning(ex, "Purging old checkouts failed");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    /// <summary>Deletes the checkouts answered before <paramref name="answeredBefore"/>; returns how many.</summary>
    public static Task<int> PurgeAsync(BasketDb db, DateTimeOffset answeredBefore, CancellationToken ct)
    {
        var cutoff = answeredBefore.UtcTicks;
        return db.Checkouts.Where(c => c.AnsweredAtTicks != null && c.AnsweredAtTicks < cutoff).ExecuteDeleteAsync(ct);
    }
}
