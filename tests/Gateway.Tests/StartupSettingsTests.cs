using Mercato.Testing;

namespace Mercato.Gateway.Tests;

public sealed class StartupSettingsTests
{
    /// <summary>
    /// Each of these started a gateway that failed later: a part timeout of zero took the home page's time limit away, a
    /// recommendation count analytics refuses left the page on its fallback, a cache lifetime of zero failed every cache
    /// write, and a refresh interval of zero stopped the host once its timer was made (ControlPlane:* and Registry:* are
    /// read by every process).
    /// </summary>
    [Theory]
    [InlineData("Home:PartTimeout", "00:00:00")]
    [InlineData("Home:PartTimeout", "two seconds")]
    [InlineData("Home:Recommendations", "0")]
    [InlineData("Home:Recommendations", "51")]
    [InlineData("Gateway:RefreshInterval", "00:00:00")]
    [InlineData("Gateway:ResponseCache:MaxAge", "00:00:00")]
    [InlineData("Gateway:ResponseCache:SizeLimitBytes", "-1")]
    [InlineData("ControlPlane:RefreshInterval", "00:00:00")]
    [InlineData("Registry:HeartbeatInterval", "-00:00:00.001")]
    [InlineData("Registry:CacheTtl", "00:00:00")]
    [InlineData("Registry:CacheTtl", "60.00:00:00")]
    public async Task A_setting_the_gateway_cannot_honour_stops_its_start_naming_the_setting(string setting, string value)
    {
        // A static route table: without the registry the gateway needs one.
        await using var gateway = new GatewayFactory(new() { ["catalog"] = "http://127.0.0.1:9" }, new() { [setting] = value });
        StartupAssert.RefusesToStart(gateway, setting);
    }
}
