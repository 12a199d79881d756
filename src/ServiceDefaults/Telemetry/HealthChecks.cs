using System.Diagnostics;
using System.Net.Sockets;
using System.Text.Json;
using Mercato.ServiceDefaults.Data;
using Mercato.ServiceDefaults.Discovery;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;

namespace Mercato.ServiceDefaults.Telemetry;

/// <summary>
/// Is this service's own TCP message listener (embedded profile) accepting connections. The broker of the scale-out
/// profile is checked by AspNetCore.HealthChecks.Rabbitmq over <see cref="BrokerHealthConnection"/> instead: an AMQP
/// channel proves credentials and virtual host too, which a TCP connect cannot.
/// Both report with readiness, but as Degraded, not Unhealthy: the outbox holds outgoing messages until the transport
/// is back, so the service can still answer requests, and taking every messaging service out of the registry during a
/// broker restart would turn a delay into an outage (the broker-restart test caught exactly that).
/// </summary>
public sealed class TransportHealthCheck(string host, int port, string what) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(host, port, timeout.Token);
            return HealthCheckResult.Healthy($"{what} at {host}:{port} accepts connections.");
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            return HealthCheckResult.Degraded($"{what} at {host}:{port} is not reachable: {ex.Message}; messages wait in the outbox.");
        }
    }
}

public static class BrokerHealthCheckExtensions
{
    /// <summary>
    /// Well under the registry's probe timeout (2 s) and Kubernetes' (3 s): a broker that does not answer makes the check
    /// Degraded in time, rather than the probe timing out and the instance being taken out of service.
    /// </summary>
    public static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(1.5);

    /// <summary>The readiness check "transport" of a scale-out service: can it open a channel on the RabbitMQ broker.</summary>
    public static IServiceCollection AddBrokerHealthCheck(this IServiceCollection services, Uri broker, string service)
    {
        services.AddSingleton(new BrokerHealthConnection(broker, $"{service} health check"));
        services.AddHealthChecks().AddRabbitMQ(
            provider => provider.GetRequiredService<BrokerHealthConnection>().GetAsync(),
            "transport", HealthStatus.Degraded, [HealthTags.Ready], CheckTimeout);
        return services;
    }
}

/// <summary>
/// The one long-lived AMQP connection the broker health check opens its channels on (RabbitMQ advises against a
/// connection per probe). Opened at the first check, and again at the next check after an attempt that failed; after
/// a broker restart the client's automatic recovery reopens it. Opening runs in the background: a check waits for it
/// at most <see cref="OpenWait"/>, so a broker that accepts TCP but never completes the AMQP handshake (the client waits
/// 10 s for that) cannot hold a readiness probe past its timeout.
/// </summary>
public sealed class BrokerHealthConnection(Uri broker, string clientName) : IAsyncDisposable
{
    public static readonly TimeSpan OpenWait = TimeSpan.FromSeconds(1);

    private readonly Lock _gate = new();
    private Task<IConnection>? _opening;

    public async Task<IConnection> GetAsync()
    {
        Task<IConnection> opening;
        lock (_gate)
        {
            if (_opening is null || _opening.IsFaulted || _opening.IsCanceled)
            {
                _opening = new ConnectionFactory
                {
                    Uri = broker,
                    AutomaticRecoveryEnabled = true,
                    ClientProvidedName = clientName,
                    RequestedConnectionTimeout = TimeSpan.FromSeconds(2),
                }.CreateConnectionAsync();
            }
            opening = _opening;
        }
        try
        {
            return await opening.WaitAsync(OpenWait);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"The connection to the broker at {broker.Host}:{broker.Port} is not open yet; still trying.");
        }
    }

    public async ValueTask DisposeAsync()
    {
        Task<IConnection>? opening;
        lock (_gate)
        {
            opening = _opening;
        }
        if (opening is { IsCompletedSuccessfully: true })
        {
            await opening.Result.DisposeAsync();
        }
        else
        {
            // Still opening (a stop must not wait for the handshake): closed once it opens, if it ever does.
            _ = opening?.ContinueWith(static async open => await open.Result.DisposeAsync(), CancellationToken.None,
                TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
        }
    }
}

/// <summary>
/// Did Wolverine start with durable messaging. A host that starts while JasperFx believes it is generating code (a
/// process-wide flag, <c>DynamicCodeBuilder.WithinCodegenCommand</c>) comes up in MediatorOnly mode: no outbox, no
/// transports, and every publish throws. Such an instance must not take traffic, so it reports Unhealthy and the
/// registry and orchestrators keep it out, instead of it answering each order with a 500.
/// </summary>
public sealed class MessagingModeHealthCheck(Wolverine.Runtime.IWolverineRuntime runtime) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var mode = runtime.Options.Durability.Mode;
        return Task.FromResult(mode == Wolverine.DurabilityMode.MediatorOnly
            ? HealthCheckResult.Unhealthy("Wolverine started in MediatorOnly mode (no outbox, no transports): this instance cannot publish messages.")
            : HealthCheckResult.Healthy($"Durable messaging, {mode} mode."));
    }
}

/// <summary>
/// What the durable inbox and outbox hold, for the detailed <c>/health</c> only (not readiness): messages waiting to be
/// handled, to be sent, and scheduled. Outgoing messages pile up when the transport is down or slow; past
/// <c>Health:OutboxBacklogLimit</c> (1,000) the check says Degraded, while the service keeps serving and the outbox
/// keeps every message until it is sent.
/// </summary>
public sealed class OutboxHealthCheck(Wolverine.Persistence.Durability.IMessageStore store, IConfiguration config) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var counts = await store.Admin.FetchCountsAsync();
        var limit = config.GetValue("Health:OutboxBacklogLimit", 1_000);
        var data = new Dictionary<string, object>
        {
            ["incoming"] = counts.Incoming,
            ["outgoing"] = counts.Outgoing,
            ["scheduled"] = counts.Scheduled,
        };
        var description = $"Inbox {counts.Incoming} to handle, outbox {counts.Outgoing} to send, {counts.Scheduled} scheduled.";
        return counts.Outgoing >= limit
            ? HealthCheckResult.Degraded($"{description} The outbox holds {limit} or more: the transport is down or slow.", data: data)
            : HealthCheckResult.Healthy(description, data);
    }
}

/// <summary>
/// Wolverine's listeners (the message transport's queues and the local ones), for the detailed <c>/health</c> only: a
/// stopped listener receives nothing, while the transport check only asks whether the transport is reachable.
/// Degraded, not Unhealthy: the service still answers requests, and messages wait in their queue or in the senders'
/// outboxes until the listener runs again.
/// </summary>
public sealed class ListenersHealthCheck(Wolverine.Runtime.IWolverineRuntime runtime) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var listeners = runtime.Endpoints.ActiveListeners().ToList();
        var data = listeners.ToDictionary(l => l.Uri.ToString(), l => (object)l.Status.ToString());
        var stopped = listeners.Where(l => l.Status == Wolverine.Transports.ListeningStatus.Stopped).Select(l => l.Uri.ToString()).ToList();
        return Task.FromResult(stopped.Count > 0
            ? HealthCheckResult.Degraded($"{stopped.Count} of {listeners.Count} listener(s) stopped: {string.Join(", ", stopped)}.", data: data)
            : HealthCheckResult.Healthy($"{listeners.Count} listener(s) receiving.", data));
    }
}

/// <summary>
/// The services this one calls, and whether the registry lists a healthy instance of each: reported beside the
/// readiness checks, never part of them. As the spec says, a dependency being down does not make this service
/// unhealthy: it degrades (breakers, fallbacks) instead.
/// </summary>
public sealed class DependencyReport(IServiceProvider services, IConfiguration config, IOptions<RegistryOptions> self)
{
    public IReadOnlyList<string> Dependencies { get; } = Of(config, self.Value.ServiceName);

    /// <summary>The services <paramref name="service"/> calls: <c>Health:Dependencies</c>, plus identity for token keys.</summary>
    public static IReadOnlyList<string> Of(IConfiguration config, string service) =>
        [.. (config.GetSection("Health:Dependencies").Get<string[]>() ?? []).Append("identity").Where(d => d != service).Distinct()];

    public async Task<Dictionary<string, object>> CheckAsync(CancellationToken ct)
    {
        var result = new Dictionary<string, object>();
        if (Dependencies.Count == 0)
        {
            return result;
        }
        var registry = services.GetService<RegistryClient>();
        if (registry is null || !self.Value.Discovery)
        {
            return Dependencies.Distinct().ToDictionary(d => d, _ => (object)new { status = "Unknown", description = "Not discovered through a registry." });
        }
        var clock = Stopwatch.StartNew();
        try
        {
            var healthy = (await registry.GetHealthyInstancesAsync(ct)).GroupBy(i => i.ServiceName).ToDictionary(g => g.Key, g => g.Count());
            foreach (var dependency in Dependencies.Distinct())
            {
                var count = healthy.GetValueOrDefault(dependency);
                result[dependency] = new
                {
                    status = count > 0 ? "Healthy" : "Unavailable",
                    healthyInstances = count,
                    durationMs = clock.Elapsed.TotalMilliseconds,
                };
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or JsonException)
        {
            foreach (var dependency in Dependencies.Distinct())
            {
                result[dependency] = new { status = "Unknown", description = $"Registry unreachable: {ex.Message}" };
            }
        }
        return result;
    }
}

public static class HealthReportWriter
{
    /// <summary>The spec's HealthChecker as JSON: overall status, each check with status and timing, and dependencies.</summary>
    public static async Task WriteAsync(HttpContext context, HealthReport report, bool withDependencies)
    {
        context.Response.ContentType = "application/json";
        var dependencies = withDependencies
            ? await context.RequestServices.GetRequiredService<DependencyReport>().CheckAsync(context.RequestAborted)
            : null;
        var body = new
        {
            status = report.Status.ToString(),
            durationMs = report.TotalDuration.TotalMilliseconds,
            checks = report.Entries.ToDictionary(e => e.Key, e => new
            {
                status = e.Value.Status.ToString(),
                durationMs = e.Value.Duration.TotalMilliseconds,
                description = e.Value.Description,
                error = e.Value.Exception?.Message,
                data = e.Value.Data.Count > 0 ? e.Value.Data : null,
            }),
            dependencies,
        };
        await context.Response.WriteAsync(JsonSerializer.Serialize(body, JsonSerializerOptions.Web));
    }
}
