using Mercato.Testing;

namespace Mercato.Catalog.Tests;

public sealed class StartupSettingsTests
{
    [Theory]
    [InlineData("Catalog:SharedCacheSeconds", "-1")]
    [InlineData("Catalog:CacheSizeLimitBytes", "0")]
    public async Task A_setting_the_catalog_cannot_honour_stops_its_start_naming_the_setting(string setting, string value)
    {
        await using var catalog = new ConfiguredServiceFactory<Program>((setting, value));
        StartupAssert.RefusesToStart(catalog, setting);
    }
}
