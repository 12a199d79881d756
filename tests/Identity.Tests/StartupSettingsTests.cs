using Mercato.Testing;

namespace Mercato.Identity.Tests;

public sealed class StartupSettingsTests
{
    /// <summary>A lockout so long that "now + duration" overflows made the fifth wrong password a 500, and every sign-in after it.</summary>
    [Fact]
    public async Task A_lockout_duration_beyond_any_date_stops_the_start_naming_the_setting()
    {
        await using var identity = new ConfiguredServiceFactory<Program>(("Identity:Lockout:Duration", "10675199.00:00:00"));
        StartupAssert.RefusesToStart(identity, "Identity:Lockout:Duration");
    }
}
