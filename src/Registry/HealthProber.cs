using Mercato.ServiceDefaults.Discovery;
using Microsoft.Extensions.Options;
using System.ComponentModel.DataAnnotations;
using Mercato.ServiceDefaults.Configuration;

namespace Mercato.Registry;

public sealed class RegistryServerOptions
{
    public const string SectionName = "RegistryServer";

    /// <summary>An instance silent for this long is evicted (default 3 missed heartbeats of 5 s).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", SettingBounds.MaxSpan, ErrorMessage = "RegistryServer:HeartbeatTimeout must be from {1} to {2}.")]
    public TimeSpan HeartbeatTimeout { get; set; } = TimeSpan.FromSeconds(15);

    [Range(typeof(TimeSpan), SettingBounds.MinPeriod, SettingBounds.MaxPeriod, ErrorMessage = "RegistryServer:ProbeInterval must be from {1} to {2}.")]
    public TimeSpan ProbeInterval { get; set; } = TimeSpan.FromSeconds(5);

    [Range(typeof(TimeSpan), "00:00:00.001", "00:05:00", ErrorMessage = "RegistryServer:ProbeTimeout must be from {1} to {2}.")]
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Failed readiness probes in a row that evict an instance.</summary>
    [Range(1, int.MaxValue, ErrorMessage = "RegistryServer:FailedProbesBeforeEviction must be from {1} to {2}.")]
    public int FailedProbesBeforeEviction { get; set; } = 2;

    /// <summary>
    /// How long after start the registry's answers may be incomplete: it keeps instances in memory only, so after a
    /// restart it knows an instance again only once that instance's heartbeat was refused and it registered anew
    /// (clients beat every 5 s). Lookups say so meanwhile (<see cref="RegistryWarming.Header"/>).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", SettingBounds.MaxSpan, ErrorMessage = "RegistryServer:WarmUp must be from {1} to {2}.")]
    public TimeSpan WarmUp { get; set; } = TimeSpan.FromSeconds(7);

    [Range(1, int.MaxValue, ErrorMessage = "RegistryServer:MaxInstancesPerService must be from {1} to {2}.")]
    public int MaxInstancesPerService { get; set; } = 64;

    [Range(1, int.MaxValue, ErrorMessage = "RegistryServer:MaxInstances must be from {1} to {2}.")]
    public int MaxInstances { get; set; } = 1024;
}

/// <summary>
/// The spec's HealthChecker on the registry side: evicts instances that stopped heartbeating and probes each one's
/// /health/ready; an instance that fails its probe twice in a row (default) is evicted, and registers again on its next
/// heartbeat once healthy. Timeouts alone never evict a service's last instance (<see cref="ServiceRegistry.ProbeFailed"/>).
/// </summary>
public sealed class HealthProber(ServiceRegistry registry, IOptions<RegistryServerOptions> options, ILogger<HealthProber> logger)
    : BackgroundService
{
    // Its own client: probes must not go through discovery or retries, a failed probe is the answer.
    // No redirects: the address is checked to be scheme, host and port only (RegistryEndpoints), and a redirect would
    // aim the probe at any URL an instance names; a 3xx is a failed probe.
    private readonly HttpClient _probe = new(new SocketsHttpHandler { ConnectTimeout = options.Value.ProbeTimeout, AllowAutoRedirect = false })
    {
        Timeout = options.Value.ProbeTimeout,
    };

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.ProbeInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                registry.EvictSilent(options.Value.HeartbeatTimeout);
                await Task.WhenAll(registry.All().Select(instance => ProbeAsync(instance, stoppingToken)));
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Probes the instance's /health/ready once and records the outcome in the registry.</summary>
    public async Task ProbeAsync(ServiceInstance instance, CancellationToken ct)
    {
        string? failure;
        var timedOut = false;
        try
        {
            // Judged by the status alone: the body is not read, so a body that never ends cannot time the probe out,
            // nor a large one be buffered.
            using var response = await _probe.GetAsync($"{instance.Address}/health/ready", HttpCompletionOption.ResponseHeadersRead, ct);
            failure = response.IsSuccessStatusCode ? null : $"readiness probe answered {(int)response.StatusCode}";
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            // HttpClient.Timeout surfaces as a cancellation that the caller did not ask for.
            timedOut = ex is TaskCanceledException;
            failure = $"readiness probe failed: {ex.Message}";
        }
        if (failure is null)
        {
            registry.ProbeSucceeded(instance.InstanceId);
            return;
        }
        logger.LogWarning("{Service} instance {Instance}: {Failure}", instance.ServiceName, instance.InstanceId, failure);
        registry.ProbeFailed(instance.InstanceId, failure, options.Value.FailedProbesBeforeEviction, timedOut);
    }

    public override void Dispose()
    {
        _probe.Dispose();
        base.Dispose();
    }
}
