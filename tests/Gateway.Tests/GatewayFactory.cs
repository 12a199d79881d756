using Mercato.ServiceDefaults.Auth;
using Mercato.Testing;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace Mercato.Gateway.Tests;

/// <summary>The gateway routing by configuration to the given addresses (no registry), with tokens the tests issue.</summary>
internal sealed class GatewayFactory(Dictionary<string, string> destinations, Dictionary<string, string>? settings = null) : WebApplicationFactory<Program>
{
    public TestTokens Tokens { get; } = new();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Development");
        builder.UseSetting("Registry:Url", "");
        foreach (var (service, address) in destinations)
        {
            builder.UseSetting($"Gateway:StaticDestinations:{service}", address);
        }
        foreach (var (key, value) in settings ?? [])
        {
            builder.UseSetting(key, value);
        }
        builder.ConfigureTestServices(services =>
            services.AddHttpClient(MercatoAuth.JwksClient).ConfigurePrimaryHttpMessageHandler(Tokens.CreateJwksHandler));
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            Tokens.Dispose();
        }
    }
}
