using Mercato.ServiceDefaults.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using JasperFx.Resources;
using Wolverine;
using Wolverine.EntityFrameworkCore;
using Wolverine.ErrorHandling;
using Wolverine.Sqlite;
using Wolverine.Transports;
using Wolverine.Transports.Tcp;

namespace Mercato.ServiceDefaults.Messaging;

/// <summary>
/// Durable messaging with Wolverine: the service's own database holds its business tables and its outbox, inbox,
/// scheduled messages and dead letters, so a state change and the messages it causes commit in one transaction.
/// The transport between processes is a composition-root choice; the embedded profile uses Wolverine's TCP transport
/// (no broker to install): each service listens on Messaging:Port and finds its peers at Messaging:Peers:{service}.
/// </summary>
public static class MessagingExtensions
{
    public static IHostApplicationBuilder AddMessaging<TContext>(
        this IHostApplicationBuilder builder, string database, Action<MessageRoutes>? routes = null)
        where TContext : DbContext
    {
        var config = builder.Configuration;
        var connectionString = ServiceDatabase.ConnectionString(config, database);
        builder.Services.AddHealthChecks().AddDbContextCheck<TContext>("database", tags: [HealthTags.Ready]);

        builder.UseWolverine(opts =>
        {
            opts.ServiceName = database;
            // Handlers live in the service, not in this shared assembly that calls UseWolverine.
            opts.ApplicationAssembly = typeof(TContext).Assembly;
            opts.UseRuntimeCompilation();
            opts.Services.AddDbContextWithWolverineIntegration<TContext>(o => o.UseSqlite(connectionString));
            opts.PersistMessagesWithSqlite(connectionString);
            opts.UseEntityFrameworkCoreTransactions();
            opts.Policies.AutoApplyTransactions();
            // SQLite stores run one node per database; Balanced mode loses messages after a SIGKILL (shared notes).
            opts.Durability.Mode = DurabilityMode.Solo;
            opts.Durability.RecoveryBatchSize = 1000;

            // Transient failures retry with growing pauses (Wolverine adds jitter to scheduled retries); what still
            // fails lands in the dead-letter table with its exception, where an admin can list and replay it.
            opts.Policies.OnException<DbUpdateConcurrencyException>()
                .RetryWithCooldown(TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(250));
            // A message that overtook the one it depends on usually needs only a moment: retry often, then less often.
            opts.Policies.OnException<NotYetKnownException>()
                .RetryWithCooldown([.. new[] { 50, 100, 250, 500, 1000, 1000, 2000, 2000 }.Select(ms => TimeSpan.FromMilliseconds(ms))])
                .Then.ScheduleRetry(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(30))
                .Then.MoveToErrorQueue();
            opts.Policies.OnException<DbUpdateException>().Or<TimeoutException>().Or<HttpRequestException>()
                .RetryWithCooldown(TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(500))
                .Then.ScheduleRetry(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(30))
                .Then.MoveToErrorQueue();
            opts.Policies.OnAnyException().MoveToErrorQueue();

            opts.Policies.UseDurableLocalQueues();
            var port = config.GetValue<int?>("Messaging:Port");
            if (port is { } listenPort)
            {
                // The default buffer (1,000) made a TCP receiver stop listening under load (shared notes).
                opts.ListenAtPort(listenPort).UseDurableInbox(new BufferingLimits(20_000, 10_000));
            }
            routes?.Invoke(new MessageRoutes(opts, config));
        });
        builder.Services.AddSingleton<Weasel.Core.Migrator, Weasel.Sqlite.SqliteMigrator>();
        builder.Services.AddResourceSetupOnStartup();
        return builder;
    }
}

/// <summary>
/// A message arrived before one it depends on (choreography has no ordering across senders): retried with backoff.
/// </summary>
public sealed class NotYetKnownException(string message) : Exception(message);

/// <summary>Where this service sends which message: "to the ordering service", resolved from configuration.</summary>
public sealed class MessageRoutes(WolverineOptions options, IConfiguration config)
{
    public MessageRoutes Send<TMessage>(params string[] services)
    {
        var publishing = options.PublishMessage<TMessage>();
        foreach (var service in services)
        {
            var peer = config[$"Messaging:Peers:{service}"]
                ?? throw new InvalidOperationException($"Messaging:Peers:{service} is not configured; cannot route {typeof(TMessage).Name}.");
            publishing.To(new Uri(peer)).UseDurableOutbox();
        }
        return this;
    }

    /// <summary>Leaves a handler type out (e.g. the orchestrating saga when the system runs choreographed).</summary>
    public MessageRoutes WithoutHandler(Type handlerType)
    {
        options.Discovery.CustomizeHandlerDiscovery(query => query.Excludes.WithCondition($"not {handlerType.Name}", type => type == handlerType));
        return this;
    }
}
