using System.Diagnostics;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mercato.ServiceDefaults.Discovery;

/// <summary>
/// Registers this instance once Kestrel has bound its address, heartbeats, re-registers after an eviction and
/// deregisters on a graceful stop.
/// </summary>
public sealed class RegistrationService(
    RegistryClient registry,
    IOptions<RegistryOptions> options,
    IServer server,
    IHostApplicationLifetime lifetime,
    ILogger<RegistrationService> logger) : BackgroundService
{
    private InstanceRegistration? _registration;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!await WaitForStartAsync(stoppingToken))
        {
            return;
        }
        _registration = BuildRegistration();
        using var timer = new PeriodicTimer(options.Value.HeartbeatInterval);
        try
        {
            do
            {
                await BeatAsync(_registration, stoppingToken);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private bool _registered;
    private int _failures;

    private async Task BeatAsync(InstanceRegistration registration, CancellationToken stoppingToken)
    {
        try
        {
            _registered = _registered && await registry.HeartbeatAsync(registration.InstanceId, stoppingToken);
            if (!_registered)
            {
                await registry.RegisterAsync(registration, stoppingToken);
                _registered = true;
                logger.LogInformation("Registered {Service} instance {Instance} at {Address}",
                    registration.ServiceName, registration.InstanceId, registration.Address);
            }
            _failures = 0;
        }
        catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
        {
            _registered = false;
            if (_failures++ % 12 == 0)
            {
                logger.LogWarning("Registry not reachable ({Error}); will keep trying", ex.Message);
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        if (_registration is null)
        {
            return;
        }
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(2));
            await registry.DeregisterAsync(_registration.InstanceId, timeout.Token);
            logger.LogInformation("Deregistered instance {Instance}", _registration.InstanceId);
        }
        catch (Exception ex)
        {
            logger.LogWarning("Could not deregister ({Error}); the registry will evict this instance", ex.Message);
        }
    }

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
}
