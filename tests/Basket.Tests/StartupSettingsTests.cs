using Mercato.Testing;

namespace Mercato.Basket.Tests;

public sealed class StartupSettingsTests
{
    /// <summary>A purge interval beyond what a timer takes passed the old check and stopped the host after it had started.</summary>
    [Fact]
    public async Task A_purge_interval_beyond_a_timers_range_stops_the_start_naming_the_setting()
    {
        await using var basket = new ConfiguredServiceFactory<Program>(("Basket:CheckoutPurgeInterval", "60.00:00:00"));
        StartupAssert.RefusesToStart(basket, "Basket:CheckoutPurgeInterval");
    }
}
