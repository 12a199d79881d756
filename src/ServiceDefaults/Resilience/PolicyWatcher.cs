using Mercato.ServiceDefaults.Discovery;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using System.ComponentModel.DataAnnotations;
using Mercato.ServiceDefaults.Configuration;

namespace Mercato.ServiceDefaults.Resilience;

/// <summary>
/// Pulls the policy document from the control plane (the registry) every <see cref="ControlPlaneOptions.RefreshInterval"/>
/// and applies it when it changed (its entity tag: the version and a hash of the content). While the registry cannot be
/// reached the last document stays in force.
/// </summary>
public sealed class PolicyWatcher(
    RegistryClient registry,
    PolicyStore store,
    IOptions<ControlPlaneOptions> options,
    ILogger<PolicyWatcher> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.RefreshInterval);
        string? lastError = null;
        System.Net.Http.Headers.EntityTagHeaderValue? applied = null;
        do
        {
            try
            {
                if (await registry.GetPoliciesAsync(applied, stoppingToken) is { } pulled)
                {
                    // Another tag is another document, even at the version this instance holds (a registry that lost
                    // its state numbers from 1 again).
                    store.Apply(pulled.Policy, evenAtTheSameVersion: true);
                    applied = pulled.ETag;
                    logger.LogInformation("Policy document version {Version} in force", pulled.Policy.Version);
                }
                lastError = null;
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                if (lastError != ex.Message)
                {
                    logger.LogWarning("Control plane unreachable ({Error}); policy version {Version} stays in force", ex.Message, store.Current.Version);
                }
                lastError = ex.Message;
            }
        }
        while (await WaitAsync(timer, stoppingToken));
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken ct)
    {
        try
        {
            return await timer.WaitForNextTickAsync(ct);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}

/// <summary>A policy document as the control plane served it, with its entity tag.</summary>
public sealed record PolicyPull(MeshPolicy Policy, System.Net.Http.Headers.EntityTagHeaderValue? ETag);

/// <summary>Settings of the control-plane client (section "ControlPlane").</summary>
public sealed class ControlPlaneOptions
{
    public const string SectionName = "ControlPlane";

    /// <summary>How often the policy document is pulled; a change is in force everywhere within this plus one request.</summary>
    [Range(typeof(TimeSpan), SettingBounds.MinPeriod, SettingBounds.MaxPeriod, ErrorMessage = "ControlPlane:RefreshInterval must be from {1} to {2}.")]
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(2);
}
