using System.Net;
using System.Net.Sockets;
using Mercato.ServiceDefaults.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;

namespace Mercato.Registry.Tests;

/// <summary>
/// The scale-out services' readiness check of the broker, against the real RabbitMQ of .ci/servers.sh
/// (MERCATO_TEST_RABBITMQ overrides its address). Skipped without it unless MERCATO_REQUIRE_SCALEOUT=1 (CI), where it fails.
/// </summary>
public sealed class BrokerHealthCheckTests
{
    private static readonly Uri Broker = new(Environment.GetEnvironmentVariable("MERCATO_TEST_RABBITMQ") ?? "amqp://guest:guest@127.0.0.1:5672/");

    [SkippableFact]
    public async Task A_reachable_broker_with_the_right_credentials_is_healthy_and_the_check_keeps_one_connection()
    {
        await using var services = Services(Broker);
        var first = await SettledCheckAsync(services);
        SkipUnlessRequired(first);

        Assert.Equal(HealthStatus.Healthy, first.Status);
        var connection = await services.GetRequiredService<BrokerHealthConnection>().GetAsync();
        Assert.Equal(HealthStatus.Healthy, (await CheckAsync(services)).Status);
        Assert.Same(connection, await services.GetRequiredService<BrokerHealthConnection>().GetAsync());
    }

    [SkippableFact]
    public async Task A_broker_that_refuses_the_credentials_is_degraded_though_it_accepts_TCP_connections()
    {
        await using (var rightPassword = Services(Broker))
        {
            SkipUnlessRequired(await SettledCheckAsync(rightPassword));
        }
        var wrongPassword = new UriBuilder(Broker) { Password = "not-the-password" }.Uri;
        await using var services = Services(wrongPassword);

        var result = await SettledCheckAsync(services);

        Assert.Equal(HealthStatus.Degraded, result.Status);
        Assert.Contains("ACCESS_REFUSED", result.Exception?.ToString() ?? "", StringComparison.OrdinalIgnoreCase);
        // What the check replaced, a TCP connect, would have called this broker reachable.
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(Broker.Host, Broker.Port);
    }

    [Fact]
    public async Task No_broker_at_the_address_is_degraded_not_unhealthy()
    {
        var port = UnusedPort();
        await using var services = Services(new UriBuilder(Broker) { Host = "127.0.0.1", Port = port }.Uri);

        var result = await CheckAsync(services);

        Assert.Equal(HealthStatus.Degraded, result.Status);
        Assert.NotNull(result.Exception);
    }

    [Fact]
    public async Task A_broker_that_accepts_TCP_but_never_answers_is_degraded_while_the_connection_is_still_opening()
    {
        // Accepts the connection and says nothing: RabbitMQ's client waits 10 s for the handshake before it gives up.
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        await using var services = Services(new UriBuilder(Broker) { Host = "127.0.0.1", Port = ((IPEndPoint)silent.LocalEndpoint).Port }.Uri);

        var result = await CheckAsync(services);

        Assert.Equal(HealthStatus.Degraded, result.Status);
        Assert.Contains("not open yet", result.Exception?.Message ?? "", StringComparison.Ordinal);
        using var accepted = await silent.AcceptSocketAsync();
    }

    private static ServiceProvider Services(Uri broker)
    {
        var services = new ServiceCollection().AddLogging(logging => logging.SetMinimumLevel(LogLevel.Warning));
        services.AddBrokerHealthCheck(broker, "registry-tests");
        return services.BuildServiceProvider();
    }

    private static async Task<HealthReportEntry> CheckAsync(ServiceProvider services) =>
        (await services.GetRequiredService<HealthCheckService>().CheckHealthAsync()).Entries["transport"];

    /// <summary>
    /// The check once the connection has opened or failed: a check waits at most 1 s for it, and a process's first AMQP
    /// connection (JIT, handshake) can take longer than that on a loaded machine.
    /// </summary>
    private static async Task<HealthReportEntry> SettledCheckAsync(ServiceProvider services)
    {
        var result = await CheckAsync(services);
        for (var i = 0; i < 100 && result.Exception?.Message.Contains("not open yet", StringComparison.Ordinal) == true; i++)
        {
            await Task.Delay(300);
            result = await CheckAsync(services);
        }
        return result;
    }

    private static void SkipUnlessRequired(HealthReportEntry withRightCredentials)
    {
        Skip.If(withRightCredentials.Status != HealthStatus.Healthy && Environment.GetEnvironmentVariable("MERCATO_REQUIRE_SCALEOUT") != "1",
            $"RabbitMQ not reachable at {Broker.Host}:{Broker.Port} ({withRightCredentials.Exception?.Message}); run `sudo bash .ci/servers.sh`.");
    }

    private static int UnusedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
