using System.Net.Http.Json;
using Mercato.ServiceDefaults.Data;
using Mercato.ServiceDefaults.Discovery;
using Mercato.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Mercato.Registry.Tests;

/// <summary>
/// An instance's registration against the real registry: it is listed only while its own readiness checks pass, so one
/// the registry evicted for failing its probe does not come back at its next heartbeat.
/// </summary>
public sealed class RegistrationReadinessTests(RegistryFactory registry) : IClassFixture<RegistryFactory>
{
    private volatile bool _ready;
    private int _checks;

    [Fact]
    public async Task An_instance_registers_only_while_ready_and_does_not_return_after_an_eviction_until_ready_again()
    {
        await using var instance = await LoopbackServer.StartAsync(app =>
            app.MapGet("/health/ready", () => _ready ? Results.Ok() : Results.StatusCode(StatusCodes.Status503ServiceUnavailable)));
        var health = new ServiceCollection().AddLogging();
        health.AddHealthChecks().AddCheck("database", () =>
        {
            Interlocked.Increment(ref _checks);
            return _ready ? HealthCheckResult.Healthy() : HealthCheckResult.Unhealthy("database unreachable");
        }, [HealthTags.Ready]);
        await using var healthServices = health.BuildServiceProvider();
        var service = $"ready{Guid.NewGuid():N}"[..16];
        using var registration = new RegistrationService(
            new RegistryClient(new HttpClient(registry.Server.CreateHandler()) { BaseAddress = registry.Server.BaseAddress }),
            healthServices.GetRequiredService<HealthCheckService>(),
            Options.Create(new RegistryOptions { ServiceName = service, InstanceId = $"{service}-1", HeartbeatInterval = TimeSpan.FromMilliseconds(200) }),
            instance.Services.GetRequiredService<IServer>(),
            instance.Lifetime,
            NullLogger<RegistrationService>.Instance);

        await registration.StartAsync(CancellationToken.None);
        try
        {
            // Not ready from the start: never listed while it keeps checking.
            await AssertNeverListedWhileCheckingAsync(service);

            _ready = true;
            await WaitUntilAsync(async () => (await ListedAsync(service)).Count == 1);

            // Loses its database: the registry's probe evicts it, and its heartbeat, answered "unknown", does not
            // register it again while it is not ready.
            _ready = false;
            await WaitUntilAsync(async () => (await ListedAsync(service)).Count == 0);
            await AssertNeverListedWhileCheckingAsync(service);

            _ready = true;
            await WaitUntilAsync(async () => (await ListedAsync(service)).Count == 1);
        }
        finally
        {
            await registration.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task On_a_graceful_stop_the_instance_leaves_the_registry_while_it_still_serves_and_does_not_come_back()
    {
        var service = $"leave{Guid.NewGuid():N}"[..16];
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddHealthChecks();
        builder.Services.AddHostedService(provider => new RegistrationService(
            new RegistryClient(new HttpClient(registry.Server.CreateHandler()) { BaseAddress = registry.Server.BaseAddress }),
            provider.GetRequiredService<HealthCheckService>(),
            Options.Create(new RegistryOptions
            {
                ServiceName = service,
                InstanceId = $"{service}-1",
                HeartbeatInterval = TimeSpan.FromMilliseconds(200),
                DeregistrationDelay = TimeSpan.FromSeconds(2),
            }),
            provider.GetRequiredService<IServer>(),
            provider.GetRequiredService<IHostApplicationLifetime>(),
            NullLogger<RegistrationService>.Instance));
        await using var instance = builder.Build();
        instance.MapGet("/health/ready", () => Results.Ok());
        instance.MapGet("/work", () => "done");
        await instance.StartAsync();
        await WaitUntilAsync(async () => (await ListedAsync(service)).Count == 1);
        using var client = new HttpClient { BaseAddress = new Uri(LoopbackServer.AddressOf(instance)) };

        var stopping = instance.StopAsync();
        await WaitUntilAsync(async () => (await ListedAsync(service)).Count == 0);

        // Gone from the registry while its server still takes requests: the gateway stops routing to it first.
        Assert.Equal("done", await client.GetStringAsync("/work"));
        // Its heartbeats (every 200 ms) have stopped: nothing registers it again before it is gone.
        await Task.Delay(TimeSpan.FromMilliseconds(600));
        Assert.Empty(await ListedAsync(service));
        await stopping;
    }

    [Fact]
    public async Task A_registration_the_registry_refuses_is_unhealthy_in_health_naming_what_to_check()
    {
        // Logged as "Registry not reachable" before, and retried for ever: an instance nothing routes to, pointing at the network.
        await using var guarded = registry.WithWebHostBuilder(b => b.UseSetting("Registry:RegistrationKey", "the-key"));
        await using var instance = await LoopbackServer.StartAsync(app => app.MapGet("/health/ready", () => Results.Ok()));
        var health = new ServiceCollection().AddLogging();
        health.AddHealthChecks();
        await using var healthServices = health.BuildServiceProvider();
        var wrongKey = new HttpClient(guarded.Server.CreateHandler()) { BaseAddress = guarded.Server.BaseAddress };
        wrongKey.DefaultRequestHeaders.Add(RegistryOptions.RegistrationKeyHeader, "the-kez");
        var service = $"refused{Guid.NewGuid():N}"[..16];
        using var registration = new RegistrationService(
            new RegistryClient(wrongKey),
            healthServices.GetRequiredService<HealthCheckService>(),
            Options.Create(new RegistryOptions { ServiceName = service, InstanceId = $"{service}-1", HeartbeatInterval = TimeSpan.FromMilliseconds(200) }),
            instance.Services.GetRequiredService<IServer>(),
            instance.Lifetime,
            NullLogger<RegistrationService>.Instance);
        var before = await registration.CheckHealthAsync(new HealthCheckContext());

        await registration.StartAsync(CancellationToken.None);
        try
        {
            await WaitUntilAsync(async () => (await registration.CheckHealthAsync(new HealthCheckContext())).Status == HealthStatus.Unhealthy);
            var refused = await registration.CheckHealthAsync(new HealthCheckContext());

            Assert.Equal(HealthStatus.Healthy, before.Status);
            Assert.Contains("401", refused.Description, StringComparison.Ordinal);
            Assert.Contains("Registry:RegistrationKey", refused.Description, StringComparison.Ordinal);
        }
        finally
        {
            await registration.StopAsync(CancellationToken.None);
        }
    }

    private async Task AssertNeverListedWhileCheckingAsync(string service)
    {
        var until = Volatile.Read(ref _checks) + 4;
        await WaitUntilAsync(async () =>
        {
            Assert.Empty(await ListedAsync(service));
            return Volatile.Read(ref _checks) >= until;
        });
    }

    private async Task<List<ServiceInstance>> ListedAsync(string service) =>
        (await registry.CreateClient().GetFromJsonAsync<List<ServiceInstance>>($"/registry/v1/services/{service}"))!;

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 15 s");
            await Task.Delay(50);
        }
    }
}
