using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Aspire.Hosting;
using Aspire.Hosting.Testing;

namespace Mercato.EndToEnd.Tests;

/// <summary>
/// The whole system as real processes, started by the real AppHost (Aspire, no Docker) on free ports and a fresh data
/// folder. Tests talk to it only through the gateway.
/// </summary>
public abstract class MercatoSystem : IAsyncLifetime
{
    public const string AdminEmail = "admin@mercato.local";
    public const string AdminPassword = "Admin123!";

    private DistributedApplication? _app;
    private readonly string _dataDir = Path.Combine(Path.GetTempPath(), "mercato-e2e", Guid.NewGuid().ToString("N"));

    public HttpClient Gateway { get; private set; } = null!;

    /// <summary>Every service name and how many instances of it must be registered before tests run.</summary>
    protected virtual IReadOnlyDictionary<string, int> ExpectedInstances => new Dictionary<string, int>
    {
        ["registry"] = 1, ["gateway"] = 1, ["identity"] = 1, ["catalog"] = 1, ["inventory"] = 1,
    };

    public async Task InitializeAsync()
    {
        var gatewayPort = FreePort();
        string[] args =
        [
            $"--Mercato:GatewayPort={gatewayPort}",
            $"--Mercato:RegistryPort={FreePort()}",
            $"--Mercato:DataDir={_dataDir}",
            .. ExpectedInstances.Where(e => e.Value > 1).Select(e => $"--Mercato:Replicas:{e.Key}={e.Value}"),
        ];
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Mercato_AppHost>(args);
        _app = await builder.BuildAsync();
        using var startTimeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await _app.StartAsync(startTimeout.Token);
        Gateway = new HttpClient { BaseAddress = new Uri($"http://localhost:{gatewayPort}"), Timeout = TimeSpan.FromSeconds(30) };
        await WaitUntilEveryInstanceIsRegisteredAsync(startTimeout.Token);
    }

    public async Task DisposeAsync()
    {
        Gateway?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        try
        {
            Directory.Delete(_dataDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private async Task WaitUntilEveryInstanceIsRegisteredAsync(CancellationToken ct)
    {
        string? lastSeen = null;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var admin = await AdminAsync();
                var services = await admin.GetFromJsonAsync<JsonElement>("/api/registry/services", ct);
                var counts = services.EnumerateArray().ToDictionary(s => s.GetProperty("name").GetString()!, s => s.GetProperty("healthyInstances").GetInt32());
                lastSeen = string.Join(", ", counts.Select(c => $"{c.Key}={c.Value}"));
                if (ExpectedInstances.All(e => counts.GetValueOrDefault(e.Key) == e.Value))
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or JsonException or InvalidOperationException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                lastSeen = ex.Message;
            }
            await Task.Delay(500, ct);
        }
        throw new TimeoutException($"The system did not come up; last seen: {lastSeen}");
    }

    public async Task<string> TokenAsync(string email, string password)
    {
        using var response = await Gateway.PostAsJsonAsync("/api/identity/token", new { email, password });
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("access_token").GetString()!;
    }

    public HttpClient ClientWithToken(string token)
    {
        var client = new HttpClient { BaseAddress = Gateway.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    public async Task<HttpClient> AdminAsync() => ClientWithToken(await TokenAsync(AdminEmail, AdminPassword));

    /// <summary>Registers a fresh customer through the gateway and returns a client carrying their token.</summary>
    public async Task<(HttpClient Client, Guid UserId, string Email)> NewCustomerAsync()
    {
        var email = $"shopper-{Guid.NewGuid():N}@example.test";
        using var created = await Gateway.PostAsJsonAsync("/api/identity/users", new { email, password = "Shopper123", name = "Shopper" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        return (ClientWithToken(await TokenAsync(email, "Shopper123")), id, email);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

public sealed class SingleInstanceSystem : MercatoSystem;

[CollectionDefinition(Name)]
public sealed class SystemCollection : ICollectionFixture<SingleInstanceSystem>
{
    public const string Name = "system";
}
