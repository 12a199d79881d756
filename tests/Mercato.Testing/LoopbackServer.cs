using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Mercato.Testing;

/// <summary>
/// A real HTTP server (Kestrel) on a free loopback port, standing in for whatever the code under test calls over the
/// network: a service behind the gateway, an instance the registry probes.
/// </summary>
public static class LoopbackServer
{
    /// <summary>Starts a slim web application with the endpoints <paramref name="map"/> adds.</summary>
    public static async Task<WebApplication> StartAsync(Action<WebApplication> map)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        map(app);
        await app.StartAsync();
        return app;
    }

    /// <summary>The address the server got, e.g. http://127.0.0.1:41234.</summary>
    public static string AddressOf(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
}
