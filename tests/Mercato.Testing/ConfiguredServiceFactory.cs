using Microsoft.AspNetCore.Hosting;

namespace Mercato.Testing;

/// <summary>A <see cref="ServiceFactory{TProgram}"/> with extra settings, given as configuration keys and values.</summary>
public class ConfiguredServiceFactory<TProgram>(params (string Key, string Value)[] settings) : ServiceFactory<TProgram>
    where TProgram : class
{
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        foreach (var (key, value) in settings)
        {
            builder.UseSetting(key, value);
        }
    }
}
