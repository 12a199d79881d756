using Mercato.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Mercato.Registry.Tests;

/// <summary>A real listener on loopback whose /health/ready answers 200: what a live instance looks like to the prober.</summary>
public sealed class HealthyInstance : IAsyncLifetime
{
    private WebApplication? _app;

    public string Address { get; private set; } = "";

    public async Task InitializeAsync()
    {
        _app = await LoopbackServer.StartAsync(app => app.MapGet("/health/ready", () => Results.Ok()));
        Address = LoopbackServer.AddressOf(_app);
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
    }
}
