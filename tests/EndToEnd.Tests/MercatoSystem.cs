using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Aspire.Hosting;
using Aspire.Hosting.Testing;
using Mercato.ServiceDefaults.Resilience;
using Mercato.Testing;

namespace Mercato.EndToEnd.Tests;

/// <summary>
/// The whole system as real processes, started by the real AppHost (Aspire, no Docker) on free ports and a fresh data
/// folder. Tests talk to it only through the gateway.
/// </summary>
public abstract class MercatoSystem : IAsyncLifetime
{
    public const string AdminEmail = "admin@mercato.local";
    public const string AdminPassword = "Admin123!";

    /// <summary>Every process that registers with the registry, by the name it registers under.</summary>
    public static readonly string[] ServiceNames = ["registry", "gateway", "identity", "catalog", "inventory", "basket", "ordering", "payment", "notification", "analytics"];

    private DistributedApplication? _app;

    /// <summary>The running AppHost, for tests that stop and start resources.</summary>
    public DistributedApplication App => _app ?? throw new InvalidOperationException("Not started.");
    private readonly string _dataDir = Path.Combine(Path.GetTempPath(), "mercato-e2e", Guid.NewGuid().ToString("N"));
    private HttpClient? _gateway;

    /// <summary>
    /// The gateway. In a scale-out system whose servers are not reachable (and not required), touching it skips the test.
    /// </summary>
    public HttpClient Gateway => SkipReason is { } reason ? throw new SkipException(reason) : _gateway!;

    /// <summary>Why this system's tests are skipped; null when the system runs.</summary>
    public string? SkipReason { get; private set; }

    /// <summary>
    /// True for the scale-out profile: PostgreSQL (<c>MERCATO_TEST_POSTGRES</c>, an admin connection string) and RabbitMQ
    /// (<c>MERCATO_TEST_RABBITMQ</c>), defaults as installed by <c>.ci/servers.sh</c>. Unreachable servers skip these
    /// tests, unless <c>MERCATO_REQUIRE_SCALEOUT=1</c> (CI), where they fail.
    /// </summary>
    protected virtual bool ScaleOut => false;

    private readonly string _instanceName = "e2e_" + Guid.NewGuid().ToString("N")[..10];

    /// <summary>Where every process writes its finished spans as JSON lines (Telemetry:SpanDirectory).</summary>
    public string SpanDirectory => Path.Combine(_dataDir, "spans");

    /// <summary>Scale-out: the PostgreSQL database of a service in this system.</summary>
    public string DatabaseOf(string service) => $"{_instanceName}_{service}";

    public static string PostgresAdminConnection => PostgresAdmin;
    private static string PostgresAdmin => Environment.GetEnvironmentVariable("MERCATO_TEST_POSTGRES") ?? Mercato.AppHost.MercatoSettings.DefaultPostgresAdmin;
    private static string RabbitMq => Environment.GetEnvironmentVariable("MERCATO_TEST_RABBITMQ") ?? Mercato.AppHost.MercatoSettings.DefaultRabbitMq;

    /// <summary>Every service name and how many instances of it must be registered before tests run.</summary>
    protected virtual IReadOnlyDictionary<string, int> ExpectedInstances => new Dictionary<string, int>
    {
        ["registry"] = 1, ["gateway"] = 1, ["identity"] = 1, ["catalog"] = 1, ["inventory"] = 1, ["payment"] = 1, ["ordering"] = 1,
        ["notification"] = 1, ["analytics"] = 1, ["basket"] = 1,
    };

    /// <summary>Extra AppHost settings of this system.</summary>
    protected virtual IEnumerable<string> ExtraArgs => [];

    public async Task InitializeAsync()
    {
        if (ScaleOut && await ScaleOutServersUnreachableAsync() is { } unreachable)
        {
            if (Environment.GetEnvironmentVariable("MERCATO_REQUIRE_SCALEOUT") == "1")
            {
                throw new InvalidOperationException($"Scale-out servers are required (MERCATO_REQUIRE_SCALEOUT=1) but {unreachable}");
            }
            SkipReason = $"Scale-out profile not tested: {unreachable} Run `sudo bash .ci/servers.sh` to install and start them.";
            return;
        }
        var gatewayPort = LoopbackPorts.Free();
        string[] args =
        [
            $"--Mercato:GatewayPort={gatewayPort}",
            $"--Mercato:RegistryPort={LoopbackPorts.Free()}",
            $"--Mercato:DataDir={_dataDir}",
            $"--Mercato:SpanDirectory={SpanDirectory}",
            .. ExpectedInstances.Where(e => e.Value > 1).Select(e => $"--Mercato:Replicas:{e.Key}={e.Value}"),
            .. new[] { "ordering", "payment", "inventory", "notification", "analytics" }.Select(s => $"--Mercato:MessagingPorts:{s}={LoopbackPorts.Free()}"),
            .. ExtraArgs,
            .. ScaleOut
                ? new[] { "--Mercato:Profile=ScaleOut", $"--Mercato:InstanceName={_instanceName}", $"--Mercato:Postgres:Admin={PostgresAdmin}", $"--Mercato:RabbitMq={RabbitMq}" }
                : [],
        ];
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Mercato_AppHost>(args);
        _app = await builder.BuildAsync();
        using var startTimeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await _app.StartAsync(startTimeout.Token);
        _gateway = new HttpClient { BaseAddress = new Uri($"http://localhost:{gatewayPort}"), Timeout = TimeSpan.FromSeconds(30) };
        await WaitUntilEveryInstanceIsRegisteredAsync(startTimeout.Token);
    }

    public async Task DisposeAsync()
    {
        _gateway?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
            if (ScaleOut)
            {
                await Mercato.AppHost.ScaleOutServers.DropAsync(PostgresAdmin, _instanceName);
            }
        }
        try
        {
            Directory.Delete(_dataDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Null when PostgreSQL and RabbitMQ answer; otherwise what could not be reached.</summary>
    private static async Task<string?> ScaleOutServersUnreachableAsync()
    {
        try
        {
            await using var connection = new Npgsql.NpgsqlConnection(PostgresAdmin);
            await connection.OpenAsync();
        }
        catch (Exception ex) when (ex is Npgsql.NpgsqlException or TimeoutException or System.ComponentModel.Win32Exception)
        {
            return $"PostgreSQL is not reachable ({ex.Message}).";
        }
        var rabbit = new Uri(RabbitMq);
        try
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(rabbit.Host, rabbit.Port);
        }
        catch (SocketException ex)
        {
            return $"RabbitMQ is not reachable at {rabbit.Host}:{rabbit.Port} ({ex.Message}).";
        }
        return null;
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
            try
            {
                await Task.Delay(500, ct);
            }
            catch (OperationCanceledException)
            {
                break; // out of time: say what was last seen rather than only "a task was canceled"
            }
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

    /// <summary>
    /// Sets a product's stock (admin). Every test orders a product no other test of its system orders, but an earlier
    /// test of the same class may still be reserving or releasing it: a concurrent update is answered 409 and retried.
    /// </summary>
    public static async Task SetStockAsync(HttpClient admin, Guid product, int onHand)
    {
        var response = await admin.PutAsJsonAsync($"/api/inventory/items/{product}", new { onHand });
        for (var attempt = 0; response.StatusCode == HttpStatusCode.Conflict && attempt < 40; attempt++)
        {
            await Task.Delay(250);
            response = await admin.PutAsJsonAsync($"/api/inventory/items/{product}", new { onHand });
        }
        Assert.True(response.IsSuccessStatusCode, $"setting stock answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    /// <summary>
    /// SIGKILLs every registered instance of a service, or only the first <paramref name="instances"/> of them (no
    /// graceful shutdown, no deregistration), and waits until the registry has noticed.
    /// </summary>
    public async Task KillAsync(string service, int? instances = null)
    {
        var admin = await AdminAsync();
        var services = await admin.GetFromJsonAsync<JsonElement>("/api/registry/services");
        var pids = services.EnumerateArray().Where(s => s.GetProperty("name").GetString() == service)
            .SelectMany(s => s.GetProperty("instances").EnumerateArray())
            .Select(i => int.Parse(i.GetProperty("metadata").GetProperty("pid").GetString()!, System.Globalization.CultureInfo.InvariantCulture))
            .ToList();
        Assert.NotEmpty(pids);
        var victims = pids.Take(instances ?? pids.Count).ToList();
        foreach (var pid in victims)
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            process.Kill();
            await process.WaitForExitAsync();
        }
        await WaitForInstancesAsync(service, pids.Count - victims.Count, TimeSpan.FromSeconds(30));
    }

    /// <summary>
    /// Starts the killed instances of a service again and waits until all are registered and the gateway routes
    /// <paramref name="probePath"/>.
    /// </summary>
    public async Task RestartAsync(string service, string probePath)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        var count = ExpectedInstances[service];
        var resources = Enumerable.Range(1, count).Select(i => i == 1 ? service : $"{service}-{i}").ToList();
        while (await HealthyInstancesAsync(service) < count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{service} did not come back to {count} instance(s)");
            foreach (var resource in resources)
            {
                // Starting a running instance fails harmlessly; a killed one may not be noticed as exited yet.
                await App.ResourceCommands.ExecuteCommandAsync(resource, Aspire.Hosting.ApplicationModel.KnownResourceCommands.StartCommand);
            }
            await WaitForInstancesAsync(service, count, TimeSpan.FromSeconds(20), throwOnTimeout: false);
        }
        var admin = await AdminAsync();
        while ((await admin.GetAsync(probePath)).StatusCode == HttpStatusCode.ServiceUnavailable)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the gateway does not route {probePath} yet");
            await Task.Delay(250);
        }
    }

    private async Task<int> HealthyInstancesAsync(string service)
    {
        var admin = await AdminAsync();
        var services = await admin.GetFromJsonAsync<JsonElement>("/api/registry/services");
        return services.EnumerateArray().Where(s => s.GetProperty("name").GetString() == service).Sum(s => s.GetProperty("healthyInstances").GetInt32());
    }

    /// <summary>Waits until the registry lists <paramref name="count"/> healthy instances of a service again.</summary>
    public async Task WaitForInstancesAsync(string service, int count, TimeSpan timeout, bool throwOnTimeout = true)
    {
        var admin = await AdminAsync();
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                var services = await admin.GetFromJsonAsync<JsonElement>("/api/registry/services");
                var healthy = services.EnumerateArray().Where(s => s.GetProperty("name").GetString() == service)
                    .Sum(s => s.GetProperty("healthyInstances").GetInt32());
                if (healthy == count)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(500);
        }
        if (throwOnTimeout)
        {
            throw new TimeoutException($"{service} did not reach {count} healthy instance(s).");
        }
    }

    public async Task<HttpClient> AdminAsync() => ClientWithToken(await TokenAsync(AdminEmail, AdminPassword));

    public sealed record Instance(string Service, string Id, string Address, string Version);

    /// <summary>Every registered instance, as the registry lists them to an admin.</summary>
    public async Task<List<Instance>> InstancesAsync(HttpClient admin)
    {
        var services = await admin.GetFromJsonAsync<JsonElement>("/api/registry/services");
        return [.. services.EnumerateArray().SelectMany(s => s.GetProperty("instances").EnumerateArray()).Select(i => new Instance(
            i.GetProperty("serviceName").GetString()!, i.GetProperty("instanceId").GetString()!,
            i.GetProperty("address").GetString()!, i.GetProperty("version").GetString()!))];
    }

    /// <summary>A client with the admin's token aimed at one instance directly (admin and metrics endpoints, not routed by the gateway).</summary>
    public static HttpClient Direct(HttpClient admin, Instance instance)
    {
        var client = new HttpClient { BaseAddress = new Uri(instance.Address) };
        client.DefaultRequestHeaders.Authorization = admin.DefaultRequestHeaders.Authorization;
        return client;
    }

    /// <summary>A policy document with these targets, and edge limits generous enough for tests that send bursts on purpose.</summary>
    public static MeshPolicy Policy(params (string Target, TargetPolicy Policy)[] targets) => new()
    {
        Gateway = new GatewayPolicy
        {
            RateLimit = new GatewayRateLimit
            {
                UserPermitsPerSecond = 100_000, UserBurst = 100_000, AnonymousPermitsPerSecond = 100_000, AnonymousBurst = 100_000,
                CredentialPermitsPerMinute = 100_000, CredentialBurst = 100_000,
            },
        },
        Targets = targets.ToDictionary(t => t.Target, t => t.Policy),
    };

    /// <summary>
    /// Puts a policy document and waits until every instance of every service reports it in force. An instance that does
    /// not answer is waited for only while the registry still lists it: a test before may have killed it, and the
    /// registry drops it after its probes fail.
    /// </summary>
    /// <returns>
    /// How long after the PUT the last instance applied it, by the instances' own clock (the same machine's), so the
    /// time this test takes to ask them all is not counted.
    /// </returns>
    public async Task<TimeSpan> ApplyPolicyAsync(HttpClient admin, MeshPolicy policy)
    {
        var putAt = DateTimeOffset.UtcNow;
        var put = await admin.PutAsJsonAsync("/api/registry/policies", policy, MeshPolicy.Json);
        Assert.True(put.StatusCode == HttpStatusCode.OK, $"the policy was refused: {await put.Content.ReadAsStringAsync()}");
        var version = (await put.Content.ReadFromJsonAsync<MeshPolicy>(MeshPolicy.Json))!.Version;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var waiting = await InstancesAsync(admin);
        var lastAppliedAt = putAt;
        while (waiting.Count > 0)
        {
            var stillWaiting = new List<Instance>();
            var unreachable = false;
            foreach (var instance in waiting)
            {
                using var direct = Direct(admin, instance);
                JsonElement effective;
                try
                {
                    effective = await direct.GetFromJsonAsync<JsonElement>($"/api/{instance.Service}/admin/policies");
                }
                catch (HttpRequestException)
                {
                    unreachable = true;
                    stillWaiting.Add(instance);
                    continue;
                }
                if (effective.GetProperty("version").GetInt64() < version)
                {
                    stillWaiting.Add(instance);
                }
                else
                {
                    var appliedAt = effective.GetProperty("appliedAt").GetDateTimeOffset();
                    lastAppliedAt = appliedAt > lastAppliedAt ? appliedAt : lastAppliedAt;
                }
            }
            if (unreachable)
            {
                var listed = (await InstancesAsync(admin)).Select(i => i.Id).ToHashSet();
                stillWaiting.RemoveAll(i => !listed.Contains(i.Id));
            }
            waiting = stillWaiting;
            Assert.True(waiting.Count == 0 || clock.Elapsed < TimeSpan.FromSeconds(30),
                $"policy version {version} not in force at {string.Join(", ", waiting.Select(w => w.Id))}");
            if (waiting.Count > 0)
            {
                await Task.Delay(200);
            }
        }
        return lastAppliedAt - putAt;
    }

    /// <summary>
    /// A GET that must reach the service: the gateway's shared cache steps aside for <c>Cache-Control: no-cache</c>.
    /// For tests about the path to the service (balancing, failover, user headers, request counts).
    /// </summary>
    public static HttpRequestMessage FreshRead(string path) =>
        new(HttpMethod.Get, path) { Headers = { CacheControl = new CacheControlHeaderValue { NoCache = true } } };

    /// <summary>Registers a fresh customer through the gateway and returns a client carrying their token.</summary>
    public async Task<(HttpClient Client, Guid UserId, string Email)> NewCustomerAsync()
    {
        var email = $"shopper-{Guid.NewGuid():N}@example.test";
        using var created = await Gateway.PostAsJsonAsync("/api/identity/users", new { email, password = "Shopper123", name = "Shopper" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        return (ClientWithToken(await TokenAsync(email, "Shopper123")), id, email);
    }
}

/// <summary>
/// The embedded profile: one instance of each service, except catalog, which runs two: version 1.0.0 and a 2.0.0 canary,
/// for failover and the control plane's weighted and canary routing. (One system rather than two saves a start-up in CI.)
/// </summary>
public sealed class EmbeddedSystem : MercatoSystem
{
    public const string CanaryVersion = "2.0.0";

    protected override IReadOnlyDictionary<string, int> ExpectedInstances => new Dictionary<string, int>
    {
        ["registry"] = 1, ["gateway"] = 1, ["identity"] = 1, ["catalog"] = 2, ["inventory"] = 1, ["payment"] = 1, ["ordering"] = 1,
        ["notification"] = 1, ["analytics"] = 1, ["basket"] = 1,
    };

    protected override IEnumerable<string> ExtraArgs => [$"--Mercato:Versions:catalog-2={CanaryVersion}"];

    // The default step timeout (30 s): a participant killed and restarted mid-saga on a loaded 2-core CI box (restart,
    // runtime code generation of its first message) took longer than 15 s once, cancelling every order in flight.
}

[CollectionDefinition(Name)]
public sealed class SystemCollection : ICollectionFixture<EmbeddedSystem>
{
    public const string Name = "system";
}

/// <summary>The same system with the order flow choreographed instead of orchestrated.</summary>
public sealed class ChoreographedSystem : MercatoSystem
{
    // The choreographed deadline covers both steps (2 × step timeout); 25 s leaves a loaded 2-core CI box margin.
    protected override IEnumerable<string> ExtraArgs => ["--Mercato:OrderStepTimeout=00:00:25", "--Mercato:SagaStyle=Choreography"];
}

[CollectionDefinition(Name)]
public sealed class ChoreographyCollection : ICollectionFixture<ChoreographedSystem>
{
    public const string Name = "choreographed system";
}

/// <summary>The scale-out profile: PostgreSQL and RabbitMQ, two instances of ordering, payment and inventory.</summary>
public class ScaleOutSystem : MercatoSystem
{
    protected override bool ScaleOut => true;

    protected override IReadOnlyDictionary<string, int> ExpectedInstances => new Dictionary<string, int>
    {
        ["registry"] = 1, ["gateway"] = 1, ["identity"] = 1, ["catalog"] = 1, ["inventory"] = 2, ["payment"] = 2, ["ordering"] = 2,
        ["notification"] = 1, ["analytics"] = 1, ["basket"] = 1,
    };

    // The default step timeout (30 s): PostgreSQL commits, a broker hop and cold replicas on a 2-core box, plus fault
    // tests that take the broker or an instance away for several seconds.
}

[CollectionDefinition(Name)]
public sealed class ScaleOutCollection : ICollectionFixture<ScaleOutSystem>
{
    public const string Name = "scale-out system";
}

