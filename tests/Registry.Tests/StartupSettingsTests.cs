using Mercato.Testing;

namespace Mercato.Registry.Tests;

public sealed class StartupSettingsTests
{
    /// <summary>
    /// A heartbeat timeout of zero evicted every instance at every probe round; a limit of zero instances refused every
    /// registration; a probe interval beyond what a timer takes stopped the host after it had started.
    /// </summary>
    [Theory]
    [InlineData("RegistryServer:HeartbeatTimeout", "00:00:00")]
    [InlineData("RegistryServer:MaxInstances", "0")]
    [InlineData("RegistryServer:MaxInstancesPerService", "-1")]
    [InlineData("RegistryServer:ProbeTimeout", "00:00:00")]
    [InlineData("RegistryServer:ProbeInterval", "60.00:00:00")]
    [InlineData("RegistryServer:FailedProbesBeforeEviction", "0")]
    public async Task A_setting_the_registry_cannot_honour_stops_its_start_naming_the_setting(string setting, string value)
    {
        await using var registry = new ConfiguredServiceFactory<Program>((setting, value));
        StartupAssert.RefusesToStart(registry, setting);
    }
}
