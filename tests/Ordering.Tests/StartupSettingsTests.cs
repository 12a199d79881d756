using Mercato.Testing;

namespace Mercato.Ordering.Tests;

public sealed class StartupSettingsTests
{
    /// <summary>
    /// A step timeout of zero cancelled every order at once ("Payment did not answer in time"), and one that could not be
    /// read left every order Submitted for ever: the saga start that reads it went to the dead letters.
    /// </summary>
    [Theory]
    [InlineData("Ordering:StepTimeout", "00:00:00")]
    [InlineData("Ordering:StepTimeout", "-00:00:01")]
    [InlineData("Ordering:StepTimeout", "thirty seconds")]
    [InlineData("Ordering:StepTimeout", "10675199.00:00:00")]
    [InlineData("Ordering:HeldReads:PerCaller", "-1")]
    public async Task A_setting_ordering_cannot_honour_stops_its_start_naming_the_setting(string setting, string value)
    {
        await using var ordering = new ConfiguredServiceFactory<Program>((setting, value));
        StartupAssert.RefusesToStart(ordering, setting);
    }
}
