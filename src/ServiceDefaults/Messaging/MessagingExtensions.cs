using Mercato.ServiceDefaults;
using Mercato.ServiceDefaults.Data;
using Mercato.ServiceDefaults.Resilience;
using Mercato.ServiceDefaults.Telemetry;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using JasperFx.CodeGeneration;
using JasperFx.Resources;
using Wolverine;
using Wolverine.Configuration;
using Wolverine.EntityFrameworkCore;
using Wolverine.ErrorHandling;
using Wolverine.Postgresql;
using Wolverine.RabbitMQ;
using Wolverine.Sqlite;
using Wolverine.Transports;
using Wolverine.Transports.Tcp;

namespace Mercato.ServiceDefaults.Messaging;

/// <summary>
/// Durable messaging with Wolverine: the service's own database holds its business tables and its outbox, inbox,
/// scheduled messages and dead letters, so a state change and the messages it causes commit in one transaction.
/// Store and transport follow the deployment profile: embedded keeps them in the service's SQLite file and uses
/// Wolverine's TCP transport (no broker to install; each service listens on Messaging:Port and finds its peers at
/// Messaging:Peers:{service}); scale-out keeps them in the service's PostgreSQL database and uses RabbitMQ.
/// </summary>
public static class MessagingExtensions
{
    /// <param name="codeVariant">
    /// Names this configuration when the service's handler set depends on configuration (ordering leaves out the saga or
    /// the choreography handler): its pre-generated handler code then lives apart, in Internal/Generated/{codeVariant}
    /// and namespace Internal.Generated.{codeVariant}, since Wolverine names a handler type after its message alone.
    /// </param>
    public static IHostApplicationBuilder AddMessaging<TContext>(
        this IHostApplicationBuilder builder, string database, Action<MessageRoutes>? routes = null, string? codeVariant = null)
        where TContext : DbContext
    {
        var config = builder.Configuration;
        var connectionString = ServiceDatabase.ConnectionString(config, database);
        builder.Services.AddHealthChecks().AddDbContextCheck<TContext>("database", tags: [HealthTags.Ready])
            .AddCheck<MessagingModeHealthCheck>("messaging", tags: [HealthTags.Ready])
            .AddCheck<OutboxHealthCheck>("outbox", timeout: TimeSpan.FromSeconds(2))
            .AddCheck<ListenersHealthCheck>("listeners");

        var profile = DeploymentProfiles.From(config);
        if (profile == DeploymentProfile.ScaleOut && config.GetConnectionString("rabbitmq") is { } rabbit && Uri.TryCreate(rabbit, UriKind.Absolute, out var broker))
        {
            builder.Services.AddBrokerHealthCheck(broker, database);
        }
        else if (profile != DeploymentProfile.ScaleOut && config.GetValue<int?>("Messaging:Port") is { } port)
        {
            builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(
                "transport", _ => new TransportHealthCheck("127.0.0.1", port, "Message listener (TCP)"), null, [HealthTags.Ready]));
        }
        builder.UseWolverine(opts =>
        {
            opts.ServiceName = database;
            // Handlers live in the service, not in this shared assembly that calls UseWolverine.
            opts.ApplicationAssembly = typeof(TContext).Assembly;
            // Handler code is generated ahead of time into each service's Internal/Generated folder (kept current by a
            // test in each service's test project): no Roslyn in the process, no compile before the first messages.
            // Auto still compiles a chain that has no pre-built type (a configuration nobody generated for);
            // Messaging:CodeGeneration=Dynamic ignores the pre-built code, Static refuses to compile at all.
            opts.UseRuntimeCompilation();
            opts.CodeGeneration.TypeLoadMode = config.GetValue("Messaging:CodeGeneration", TypeLoadMode.Auto);
            opts.CodeGeneration.SourceCodeWritingEnabled = false;
            if (codeVariant is not null)
            {
                opts.CodeGeneration.GeneratedNamespace = $"Internal.Generated.{codeVariant}";
                opts.CodeGeneration.GeneratedCodeOutputPath = Path.Combine(builder.Environment.ContentRootPath, "Internal", "Generated", codeVariant);
            }
            opts.Services.AddDbContextWithWolverineIntegration<TContext>(o => o.UseServiceDatabase(config, database));
            opts.UseEntityFrameworkCoreTransactions();
            opts.Policies.AutoApplyTransactions();
            // Backlog recovery takes this many messages per poll (default 100 per 5 s: too slow after an outage). Not
            // 1,000: Wolverine's SQLite store then claims a batch of due scheduled messages with one statement that
            // SQLite refuses ("Expression tree is too large (maximum depth 1000)"), on every poll, so a backlog of
            // 1,000 due saga deadlines or scheduled retries was never picked up (ScheduledMessageTests).
            opts.Durability.RecoveryBatchSize = 500;
            // Inbox rows this process owns but holds nowhere in memory are released for recovery after this long. That
            // happens when a commit succeeded but its answer was lost (the connection dropped during COMMIT): the
            // transaction's local messages (the order's StartOrderSaga) were never queued in memory, and without this
            // they waited for the process to restart. Rows held in memory have their clock restarted (Wolverine's inbox
            // heartbeat), so a slow handler or a backlog is not released under itself.
            opts.Durability.InboxStaleTime = config.GetValue("Messaging:InboxStaleTime", TimeSpan.FromSeconds(30));
            // The outbox's equivalent is opt-in: outgoing rows have no heartbeat, and Wolverine releases every row older
            // than this, so whenever sending falls behind by more (a peer down, a backlog) each durability pass would
            // queue the same rows again, more load exactly when there is none to spare. Without it, a choreographed
            // order whose commit answer was lost is never announced and its 60 s deadline cancels it (nothing charged).
            if (config.GetValue<TimeSpan?>("Messaging:OutboxStaleTime") is { } outboxStaleTime)
            {
                opts.Durability.OutboxStaleTime = outboxStaleTime;
            }
            if (profile == DeploymentProfile.ScaleOut)
            {
                UsePostgresqlAndRabbitMq(opts, config, connectionString, database);
            }
            else
            {
                UseSqliteAndTcp(opts, config, connectionString);
            }

            // Transient failures retry with exponentially growing pauses plus random jitter (so competing instances do
            // not collide again in step); what still fails lands in the dead-letter table with its exception, where an
            // admin can list and replay it.
            // Optimistic-concurrency conflicts are expected when instances compete for one row (a hot product's stock,
            // two events for one order stream): always worth retrying, quickly at first.
            opts.Policies.OnException<DbUpdateConcurrencyException>()
                .Or<DbUpdateException>(DatabaseErrors.IsUniqueViolation)
                .Or<SagaConcurrencyException>()
                .RetryWithCooldown(Milliseconds(10, 20, 50, 100, 200, 400, 800))
                .Then.ScheduleRetry(Milliseconds(1000, 2000, 5000, 10000))
                .Then.MoveToErrorQueue()
                .WithFullJitter();
            // A message that overtook the one it depends on usually needs only a moment: retry often, then less often.
            opts.Policies.OnException<NotYetKnownException>()
                .RetryWithCooldown(Milliseconds(50, 100, 250, 500, 1000, 1000, 2000, 2000))
                .Then.ScheduleRetry(Milliseconds(5000, 10000, 30000))
                .Then.MoveToErrorQueue()
                .WithFullJitter();
            // A database that is down or busy fails wherever the handler touches it (begin, query, commit), often
            // unwrapped: those count as transient too, not only a failed SaveChanges.
            opts.Policies.OnException<DbUpdateException>().Or<Exception>(DatabaseErrors.IsTransientFailure)
                .Or<TimeoutException>().Or<HttpRequestException>().Or<Polly.ExecutionRejectedException>()
                .RetryWithCooldown(Milliseconds(100, 500))
                .Then.ScheduleRetry(Milliseconds(2000, 10000, 30000))
                .Then.MoveToErrorQueue()
                .WithFullJitter();
            // Chaos from the control plane behaves like any transient failure: a few quick retries, then the DLQ.
            opts.Policies.OnException<InjectedFaultException>()
                .RetryWithCooldown(Milliseconds(50, 100, 200))
                .Then.MoveToErrorQueue()
                .WithFullJitter();
            opts.Policies.OnAnyException().MoveToErrorQueue();
            // A message no handler here knows (a saga timeout scheduled under the other saga style, a contract version
            // this build does not have) is dead-lettered with the reason, where an admin sees and can replay it.
            // Wolverine's default logs it and throws it away.
            opts.UnknownMessageBehavior = UnknownMessageBehavior.DeadLetterQueue;
            opts.Policies.AddMiddleware(typeof(MessageFaultInjection));

            opts.Policies.UseDurableLocalQueues();
            routes?.Invoke(new MessageRoutes(opts, config, profile));
        });
        if (profile == DeploymentProfile.Embedded)
        {
            builder.Services.AddSingleton<Weasel.Core.Migrator, Weasel.Sqlite.SqliteMigrator>();
        }
        builder.Services.AddResourceSetupOnStartup();
        return builder;
    }

    /// <summary>How long the embedded TCP transport waits to fill a batch before sending what it has.</summary>
    public static readonly TimeSpan DefaultSendBatchTimeout = TimeSpan.FromMilliseconds(50);

    private static TimeSpan[] Milliseconds(params int[] delays) => [.. delays.Select(ms => TimeSpan.FromMilliseconds(ms))];

    private static void UseSqliteAndTcp(WolverineOptions opts, IConfiguration config, string connectionString)
    {
        opts.PersistMessagesWithSqlite(connectionString);
        // SQLite stores run one node per database; Balanced mode loses messages after a SIGKILL (shared notes).
        opts.Durability.Mode = DurabilityMode.Solo;
        if (config.GetValue<int?>("Messaging:Port") is { } listenPort)
        {
            // The default buffer (1,000) made a TCP receiver stop listening under load (shared notes).
            opts.ListenAtPort(listenPort).UseDurableInbox(new BufferingLimits(20_000, 10_000));
        }
        // Wolverine's TCP sender holds a message for MessageBatchTimeout (250 ms by default) waiting for more to fill a
        // batch: a quiet system paid that on every hop, ~1 s per order for the saga's four hops. Every batch costs a TCP
        // connection and an inbox and an outbox transaction, so a window of 5 ms made loaded systems slower (measured,
        // docs/benchmarks.md); 50 ms keeps most of the latency gain. Messaging:SendBatchTimeout sets it.
        var batchTimeout = config.GetValue("Messaging:SendBatchTimeout", DefaultSendBatchTimeout);
        opts.Policies.Add(new LambdaEndpointPolicy<TcpEndpoint>((endpoint, _) => endpoint.MessageBatchTimeout = batchTimeout));
    }

    /// <summary>
    /// A queue or exchange name, prefixed with <c>Messaging:Prefix</c> when set: keeps the exchanges and queues of one
    /// system apart from another's on a shared broker (test systems, several environments).
    /// </summary>
    internal static string BrokerName(IConfiguration config, string name) =>
        config["Messaging:Prefix"] is { Length: > 0 } prefix ? $"{prefix}.{name}" : name;

    /// <summary>
    /// Outbox and inbox in the service's PostgreSQL database (schema <c>wolverine</c>); RabbitMQ between services, one
    /// durable queue per service that all its instances compete for. Balanced mode: the instances elect a leader that
    /// hands a dead instance's persisted messages and scheduled timeouts to the living ones.
    /// </summary>
    private static void UsePostgresqlAndRabbitMq(WolverineOptions opts, IConfiguration config, string connectionString, string queue)
    {
        opts.PersistMessagesWithPostgresql(connectionString, "wolverine");
        opts.Durability.Mode = DurabilityMode.Balanced;
        // Notice a killed instance within seconds rather than the default minute or more (shared notes: ~75 s).
        opts.Durability.HealthCheckPollingTime = TimeSpan.FromSeconds(3);
        opts.Durability.StaleNodeTimeout = TimeSpan.FromSeconds(10);
        opts.Durability.NodeReassignmentPollingTime = TimeSpan.FromSeconds(3);

        opts.UseRabbitMq(new Uri(config.GetConnectionString("rabbitmq")
                ?? throw new InvalidOperationException("The scale-out profile needs ConnectionStrings:rabbitmq (amqp://user:password@host:5672/vhost).")))
            .AutoProvision()
            // Failed messages go to the service's own dead-letter table, like the embedded profile's, where its admin API
            // lists and replays them; Wolverine's default would hand them to one native RabbitMQ queue shared by every
            // service, out of that API's sight.
            .DisableDeadLetterQueueing()
            // Confirms: a message leaves the outbox only once RabbitMQ has it (off by default in Wolverine).
            .ConfigureChannelCreation(channel =>
            {
                channel.PublisherConfirmationsEnabled = true;
                channel.PublisherConfirmationTrackingEnabled = true;
            });
        opts.ListenToRabbitQueue(BrokerName(config, queue)).UseDurableInbox();
    }
}

/// <summary>
/// A message arrived before one it depends on (choreography has no ordering across senders): retried with backoff.
/// </summary>
public sealed class NotYetKnownException(string message) : Exception(message);

/// <summary>Where this service sends which message: "to the ordering service", resolved from configuration.</summary>
public sealed class MessageRoutes(WolverineOptions options, IConfiguration config, DeploymentProfile profile)
{
    /// <summary>
    /// Sends <typeparamref name="TMessage"/> through the outbox to each named service. On RabbitMQ it goes to a fanout
    /// exchange named after the message type, bound to each consuming service's queue.
    /// </summary>
    public MessageRoutes Send<TMessage>(params string[] services)
    {
        var publishing = options.PublishMessage<TMessage>();
        if (profile == DeploymentProfile.ScaleOut)
        {
            publishing.ToRabbitExchange(MessagingExtensions.BrokerName(config, typeof(TMessage).Name), exchange =>
            {
                exchange.ExchangeType = ExchangeType.Fanout;
                foreach (var service in services)
                {
                    var queue = MessagingExtensions.BrokerName(config, service);
                    exchange.BindQueue(queue, queue);
                }
            }).UseDurableOutbox();
            return this;
        }
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
