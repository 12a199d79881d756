using System.Diagnostics;
using Mercato.ServiceDefaults.Data;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mercato.ServiceDefaults.Discovery;

/// <summary>
/// Registers this instance once Kestrel has bound its address and its own readiness checks pass, heartbeats,
/// re-registers after an eviction (again only once ready) and deregisters on a graceful stop. It leaves before the web
/// server stops (<see cref="StoppingAsync"/> runs before any hosted service stops) and keeps serving for
/// <see cref="RegistryOptions.DeregistrationDelay"/>: had it left after, the registry would list it for seconds while it
/// refused connections, and every write routed to it meanwhile (which the gateway does not retry) would fail.
/// </summary>
public sealed class RegistrationService(
    RegistryClient registry,
    HealthCheckService health,
    IOptions<RegistryOptions> options,
    IServer server,
    IHostApplicationLifetime lifetime,
    ILogger<RegistrationService> logger) : BackgroundService, IHostedLifecycleService, IHealthCheck
{
    // Why the registry last refused this instance; null once it took it, or while it only could not be reached.
    private volatile string? _refusal;

    // One beat or the departure at a time: a beat under way when the instance leaves would register it again. Not
    // disposed: a beat still running at disposal releases it (it holds no wait handle).
    private readonly SemaphoreSlim _turn = new(1, 1);
    private bool _left;

    /// <summary>How soon an instance that is not ready yet checks again, rather than waiting a whole heartbeat.</summary>
    private static readonly TimeSpan ReadinessRecheck = TimeSpan.FromMilliseconds(500);

    private InstanceRegistration? _registration;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!await WaitForStartAsync(stoppingToken))
        {
            return;
        }
        _registration = BuildRegistration();
        var interval = options.Value.HeartbeatInterval;
        try
        {
            while (true)
            {
                var waitingForReadiness = !await BeatAsync(_registration, stoppingToken);
                await Task.Delay(waitingForReadiness && ReadinessRecheck < interval ? ReadinessRecheck : interval, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private bool _registered;
    private int _failures;
    private int _notReady;

    /// <returns>false when the instance is not registered because its readiness checks fail.</returns>
    private async Task<bool> BeatAsync(InstanceRegistration registration, CancellationToken stoppingToken)
    {
        await _turn.WaitAsync(stoppingToken);
        try
        {
            if (_left)
            {
                return true;
            }
            _registered = _registered && await registry.HeartbeatAsync(registration.InstanceId, stoppingToken);
            if (!_registered)
            {
                // The registry lists an instance as healthy from its registration on, and evicts one whose readiness
                // probe fails: re-registering at the next heartbeat regardless would put an instance that lost its
                // database back into rotation between probes. So only a ready instance (re)registers.
                if (await NotReadyBecauseAsync(stoppingToken) is { } reason)
                {
                    if (_notReady++ % 20 == 0)
                    {
                        logger.LogWarning("Not registering {Instance} while it is not ready: {Reason}", registration.InstanceId, reason);
                    }
                    return false;
                }
                _notReady = 0;
                await registry.RegisterAsync(registration, stoppingToken);
                _registered = true;
                _refusal = null;
                logger.LogInformation("Registered {Service} instance {Instance} at {Address}",
                    registration.ServiceName, registration.InstanceId, registration.Address);
            }
            _failures = 0;
        }
        catch (RegistrationRefusedException ex) when (!stoppingToken.IsCancellationRequested)
        {
            // Not the network: nothing will route here until the settings are fixed, so it is an error, and /health says it.
            _registered = false;
            _refusal = ex.Message;
            if (_failures++ % 12 == 0)
            {
                logger.LogError("{Instance} is not registered: {Reason}", registration.InstanceId, ex.Message);
            }
        }
        catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
        {
            _registered = false;
            if (_failures++ % 12 == 0)
            {
                logger.LogWarning("Registry not reachable ({Error}); will keep trying", ex.Message);
            }
        }
        finally
        {
            _turn.Release();
        }
        return true;
    }

    /// <summary>What /health/ready would answer 503 for; Degraded (a broker down, say) still serves and registers.</summary>
    private async Task<string?> NotReadyBecauseAsync(CancellationToken ct)
    {
        var report = await health.CheckHealthAsync(check => check.Tags.Contains(HealthTags.Ready), ct);
        return report.Status == HealthStatus.Unhealthy
            ? string.Join("; ", report.Entries.Where(e => e.Value.Status == HealthStatus.Unhealthy)
                .Select(e => $"{e.Key}: {e.Value.Description ?? e.Value.Exception?.Message ?? "unhealthy"}"))
            : null;
    }

    /// <summary>Leaves the registry while the web server still serves, then gives the gateway time to notice.</summary>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (await LeaveAsync(cancellationToken) && options.Value.DeregistrationDelay > TimeSpan.Zero)
            {
                await Task.Delay(options.Value.DeregistrationDelay, cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
            // The host's shutdown timeout ran out during the delay: stop now.
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        // Outside a host nothing called StoppingAsync.
        await LeaveAsync(cancellationToken);
    }

    /// <returns>true when this call took the instance out of the registry (it was listed there).</returns>
    private async Task<bool> LeaveAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _turn.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // Out of time while a beat ran: the registry evicts the instance by itself.
            return false;
        }
        try
        {
            if (_left || _registration is null)
            {
                _left = true;
                return false;
            }
            _left = true;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(2));
            // Asked whatever the last heartbeat found: one that failed for a moment leaves the instance listed.
            var wasListed = await registry.DeregisterAsync(_registration.InstanceId, timeout.Token);
            logger.LogInformation("Deregistered instance {Instance}", _registration.InstanceId);
            return wasListed;
        }
        catch (Exception ex)
        {
            logger.LogWarning("Could not deregister ({Error}); the registry will evict this instance", ex.Message);
            return false;
        }
        finally
        {
            _turn.Release();
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;


    private async Task<bool> WaitForStartAsync(CancellationToken stoppingToken)
    {
        var started = new TaskCompletionSource();
        using var onStarted = lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        using var onStopping = stoppingToken.Register(() => started.TrySetCanceled(stoppingToken));
        try
        {
            await started.Task;
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private InstanceRegistration BuildRegistration()
    {
        var settings = options.Value;
        var address = settings.AdvertisedAddress ?? AdvertisableAddress(
            server.Features.Get<IServerAddressesFeature>()?.Addresses ?? []);
        var metadata = new Dictionary<string, string>
        {
            ["pid"] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["machine"] = Environment.MachineName,
            ["startedAt"] = Process.GetCurrentProcess().StartTime.ToUniversalTime().ToString("O"),
        };
        return new InstanceRegistration(settings.ServiceName, settings.InstanceId, address, settings.Version, metadata);
    }

    private static string AdvertisableAddress(ICollection<string> addresses)
    {
        var chosen = addresses.FirstOrDefault(a => a.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
            ?? addresses.FirstOrDefault()
            ?? throw new InvalidOperationException("Kestrel reported no bound address to register.");
        // A wildcard bind is reachable on loopback from this machine; other hosts set Registry:AdvertisedAddress.
        return chosen.Replace("://0.0.0.0:", "://127.0.0.1:", StringComparison.Ordinal)
            .Replace("://[::]:", "://127.0.0.1:", StringComparison.Ordinal)
            .Replace("://+:", "://127.0.0.1:", StringComparison.Ordinal)
            .Replace("://*:", "://127.0.0.1:", StringComparison.Ordinal)
            .TrimEnd('/');
    }

    /// <summary>In /health (not in readiness, which decides whether to register): unhealthy while the registry refuses this instance.</summary>
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(_refusal is { } refusal ? HealthCheckResult.Unhealthy(refusal)
            : HealthCheckResult.Healthy(_registered ? "Registered." : "Not registered yet."));
}
