using System.Diagnostics;
using System.Text.Json;
using Mercato.ServiceDefaults.Auth;
using Mercato.ServiceDefaults.Data;
using Mercato.ServiceDefaults.Discovery;
using Mercato.ServiceDefaults.Http;
using Mercato.ServiceDefaults.Resilience;
using Mercato.ServiceDefaults.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.ServiceDiscovery;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Mercato.ServiceDefaults.Configuration;

namespace Mercato.ServiceDefaults;

/// <summary>
/// The cross-cutting setup every Mercato process shares: telemetry, health, discovery through the registry, resilient
/// HttpClients, JWT validation against Identity's JWKS, problem details and OpenAPI.
/// </summary>
public static class ServiceDefaultsExtensions
{
    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        var registry = ConfigureRegistry(builder);
        builder.ConfigureOpenTelemetry(registry);

        builder.Services.AddHealthChecks().AddCheck("self", () => HealthCheckResult.Healthy(), [HealthTags.Live]);
        builder.Services.AddSingleton<DependencyReport>();
        // One clock for every process's time-based logic; tests replace it with a fake.
        builder.Services.TryAddSingleton(TimeProvider.System);
        // The largest legitimate body (a policy document, an order of 50 lines) is a few kilobytes; Kestrel's default of
        // 30 MB let megabytes of padding through to the JSON reader. Larger bodies are a 413 problem.
        builder.Services.Configure<KestrelServerOptions>(options => options.Limits.MaxRequestBodySize = MaxRequestBodyBytes);

        // The registry has two roles: discovery (off on Kubernetes, where cluster DNS resolves http://{service}) and
        // the control plane's policy document (on wherever a registry is configured).
        var discoverThroughRegistry = registry.Url is not null && registry.Discovery;
        if (registry.Url is not null)
        {
            builder.Services.AddSingleton(sp => RegistryClient.Create(sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<RegistryOptions>>()));
        }
        if (discoverThroughRegistry)
        {
            builder.Services.AddSingleton<ServiceInstanceCache>();
            builder.Services.AddSingleton<RegistrationService>();
            builder.Services.AddHostedService(sp => sp.GetRequiredService<RegistrationService>());
            builder.Services.AddHealthChecks().AddCheck<RegistrationService>("registration");
            // Registered before AddServiceDiscovery so the registry answers first; configuration and pass-through follow.
            builder.Services.AddSingleton<IServiceEndpointProviderFactory, RegistryEndpointProviderFactory>();
            builder.Services.AddTransient<DiscoveryRefreshHandler>();
        }
        // The control plane: this instance's copy of the policy document drives its sidecar pipelines, routing and chaos.
        var policies = new PolicyStore(registry.ServiceName);
        builder.Services.AddSingleton(policies);
        builder.Services.AddSingleton<IOptionsMonitor<TargetPolicy>>(policies);
        builder.Services.AddSingleton<MeshTelemetry>();
        builder.Services.AddSingleton<RequestMetrics>();
        builder.Services.AddHttpContextAccessor();
        builder.Services.AddValidatedSettings<ControlPlaneOptions>(builder.Configuration.GetSection(ControlPlaneOptions.SectionName));
        if (registry.Url is not null)
        {
            builder.Services.AddHostedService<PolicyWatcher>();
        }
        if (discoverThroughRegistry)
        {
            builder.Services.AddTransient<VersionRoutingHandler>();
        }

        builder.Services.AddServiceDiscovery(options => options.RefreshPeriod = registry.CacheTtl);
        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            // Outside in: the sidecar pipeline keyed by the logical target, the target's routing rule, then discovery.
            http.AddMeshPipeline();
            if (discoverThroughRegistry)
            {
                http.AddHttpMessageHandler<VersionRoutingHandler>();
                http.AddHttpMessageHandler<DiscoveryRefreshHandler>();
            }
            http.AddServiceDiscovery();
        });

        builder.Services.AddProblemDetails(options => options.CustomizeProblemDetails = context =>
        {
            context.ProblemDetails.Instance ??= context.HttpContext.Request.Path;
            context.ProblemDetails.Extensions.TryAdd("traceId", Activity.Current?.TraceId.ToString() ?? context.HttpContext.TraceIdentifier);
        });
        // After the framework's writer, for clients whose Accept leaves it out.
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IProblemDetailsWriter, ProblemJsonWriter>());
        builder.Services.AddExceptionHandler<ProblemDetailsExceptionHandler>();
        // Binding failures throw so the handler above can name the field, in every environment.
        builder.Services.Configure<RouteHandlerOptions>(options => options.ThrowOnBadRequest = true);

        builder.Services.AddMercatoAuthentication(builder.Configuration);
        builder.Services.AddOpenApi(options => options
            .AddDocumentTransformer<OpenApiProblemResponses>()
            .AddOperationTransformer<OpenApiProblemResponses>());
        return builder;
    }

    private static RegistryOptions ConfigureRegistry(IHostApplicationBuilder builder)
    {
        var section = builder.Configuration.GetSection(RegistryOptions.SectionName);
        var settings = new RegistryOptions();
        section.Bind(settings);
        if (string.IsNullOrWhiteSpace(settings.ServiceName))
        {
            settings.ServiceName = builder.Environment.ApplicationName.Split('.')[^1].ToLowerInvariant();
        }
        if (string.IsNullOrWhiteSpace(settings.InstanceId))
        {
            settings.InstanceId = $"{settings.ServiceName}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..6]}";
        }
        if (string.IsNullOrWhiteSpace(settings.Url))
        {
            settings.Url = null;
        }
        builder.Services.Configure<RegistryOptions>(options =>
        {
            section.Bind(options);
            options.Url = settings.Url;
            options.ServiceName = settings.ServiceName;
            options.InstanceId = settings.InstanceId;
        });
        builder.Services.AddOptions<RegistryOptions>().ValidateDataAnnotations().ValidateOnStart();
        return settings;
    }

    private static void ConfigureOpenTelemetry(this IHostApplicationBuilder builder, RegistryOptions registry)
    {
        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });
        // One console format for every process: JSON lines that carry the trace and span id of what was going on.
        builder.Logging.Configure(options => options.ActivityTrackingOptions =
            ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId | ActivityTrackingOptions.ParentId);
        // Polly reports every execution at Information; its warnings (retries, breaker transitions) are what matter.
        builder.Logging.AddFilter("Polly", LogLevel.Warning);
        builder.Logging.AddJsonConsole(options =>
        {
            options.IncludeScopes = true;
            options.UseUtcTimestamp = true;
            options.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
        });

        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(
                registry.ServiceName, serviceVersion: registry.Version, serviceInstanceId: registry.InstanceId))
            .WithMetrics(metrics => metrics
                .DropPerRequestDiagnostics(builder.Configuration)
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter("Mercato.*")
                // Wolverine's own: messages sent, received, succeeded, failed, dead-lettered; inbox/outbox counts (meter "Wolverine:{service}").
                .AddMeter("Wolverine*")
                // Polly's own: every retry, breaker transition and timeout of the sidecar pipeline, as resilience_polly_strategy_events.
                .AddMeter("Polly")
                // Scrapes see current values: a test or an operator reading twice in a row must not get a cached page.
                .AddPrometheusExporter(options => options.ScrapeResponseCacheDurationMilliseconds = 0))
            .WithTracing(tracing =>
            {
                tracing
                    .AddSource("Mercato.*")
                    // Wolverine carries W3C trace context in every envelope (through the outbox too), so one trace
                    // follows an order across HTTP and messages.
                    .AddSource("Wolverine")
                    .AddAspNetCoreInstrumentation(options => options.Filter = context => !IsInfrastructurePath(context.Request.Path))
                    .AddHttpClientInstrumentation(options => options.FilterHttpRequestMessage = request => !IsInfrastructurePath(request.RequestUri?.AbsolutePath));
                if (builder.Configuration["Telemetry:SpanDirectory"] is { Length: > 0 } spanDirectory)
                {
                    tracing.AddProcessor(new SimpleActivityExportProcessor(new JsonLinesSpanExporter(spanDirectory, registry.ServiceName)));
                }
            });

        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            telemetry.UseOtlpExporter();
        }
    }

    /// <summary>
    /// Framework instruments recorded several times per request that no dashboard, alert or test of ours reads: they
    /// were part of the ~8 % of the gateway's CPU that went to metric recording (docs/benchmarks.md 5.16, 5.25). The
    /// request, client-call, rate-limit rejection, connection and runtime metrics stay. <c>Telemetry:DiagnosticMetrics=true</c>
    /// keeps these too, for a deeper look at Kestrel's memory pool, routing or authentication.
    /// </summary>
    private static readonly string[] PerRequestDiagnosticInstruments =
    [
        "aspnetcore.memory_pool.*",
        "aspnetcore.routing.match_attempts",
        "aspnetcore.authentication.authenticate.duration",
        "aspnetcore.authorization.attempts",
        "aspnetcore.rate_limiting.request_lease.duration",
        "aspnetcore.rate_limiting.active_request_leases",
        "http.client.request.time_in_queue",
    ];

    private static MeterProviderBuilder DropPerRequestDiagnostics(this MeterProviderBuilder metrics, IConfiguration configuration)
    {
        if (!configuration.GetValue("Telemetry:DiagnosticMetrics", false))
        {
            foreach (var instrument in PerRequestDiagnosticInstruments)
            {
                metrics.AddView(instrument, MetricStreamConfiguration.Drop);
            }
        }
        return metrics;
    }

    public const long MaxRequestBodyBytes = 1024 * 1024;

    /// <summary>
    /// Not traced on either side: health probes, metric scrapes and the registry's own protocol (registration,
    /// heartbeats, lookups, policy pulls). They are steady background chatter, several per second, each its own trace.
    /// </summary>
    private static bool IsInfrastructurePath(PathString path) =>
        path.StartsWithSegments("/health") || path.StartsWithSegments("/metrics") || path.StartsWithSegments("/registry");

    /// <summary>Health, metrics and OpenAPI endpoints plus the error and auth middleware, for every service.</summary>
    /// <param name="guardUserHeaders">
    /// Refuse requests whose X-User-* headers disagree with their token. Off only at the edge (the gateway), which
    /// replaces those headers itself.
    /// </param>
    /// <param name="beforeAuthorization">
    /// Middleware that must see who the caller is but run before an unauthorised call is turned away (the gateway's
    /// rate limits: calls refused for their token count against the caller's bucket too).
    /// </param>
    public static WebApplication MapDefaultEndpoints(this WebApplication app, bool guardUserHeaders = true,
        Action<WebApplication>? beforeAuthorization = null)
    {
        var self = app.Services.GetRequiredService<IOptions<RegistryOptions>>().Value;
        var requestMetrics = app.Services.GetRequiredService<RequestMetrics>();
        app.Use((context, next) => requestMetrics.MeasureAsync(context, self.ServiceName, next));
        if (guardUserHeaders)
        {
            // Which instance and version answered (the edge forwards these from the service that served the call).
            app.Use((context, next) =>
            {
                context.Response.Headers["X-Served-By"] = self.InstanceId;
                context.Response.Headers["X-Service-Version"] = self.Version;
                return next(context);
            });
        }
        app.UseExceptionHandler();
        app.UseMiddleware<ContentCharsetGuard>();
        app.UseMiddleware<FaultInjectionMiddleware>();
        app.UseStatusCodePages(UnsupportedMediaType.WriteStatusProblemAsync);
        app.UseAuthentication();
        if (guardUserHeaders)
        {
            app.UseMiddleware<UserContextGuard>();
        }
        beforeAuthorization?.Invoke(app);
        app.UseAuthorization();

        app.MapHealthChecks("/health/live", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(HealthTags.Live),
            ResponseWriter = (context, report) => HealthReportWriter.WriteAsync(context, report, withDependencies: false),
        }).AllowAnonymous();
        app.MapHealthChecks("/health/ready", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(HealthTags.Ready),
            ResponseWriter = (context, report) => HealthReportWriter.WriteAsync(context, report, withDependencies: false),
        }).AllowAnonymous();
        // The detail view for people: every check with timing, plus the dependencies and their state (asked of the
        // registry, so it costs a call; probes use /health/ready).
        app.MapHealthChecks("/health", new HealthCheckOptions
        {
            ResponseWriter = (context, report) => HealthReportWriter.WriteAsync(context, report, withDependencies: true),
        }).AllowAnonymous();
        app.MapPrometheusScrapingEndpoint().AllowAnonymous();
        app.MapOpenApi().AllowAnonymous();
        app.MapGet($"/api/{self.ServiceName}/admin/policies", (PolicyStore policies, MeshTelemetry mesh) => new EffectivePolicies(
                self.ServiceName, self.InstanceId, policies.Current.Version, policies.AppliedAt, policies.CurrentValue.Faults,
                policies.Current.Targets.Keys.Union(mesh.Breakers.Keys).Order(StringComparer.Ordinal).ToDictionary(t => t, policies.Get),
                mesh.Breakers.ToDictionary(b => b.Key, b => b.Value.ToString())))
            .RequireAuthorization(MercatoAuth.AdminPolicy)
            .WithTags("Control plane");
        return app;
    }
}

/// <summary>What one instance has in force: the document version, its own faults, per target the caller settings and breaker state.</summary>
public sealed record EffectivePolicies(
    string Service, string Instance, long Version, DateTimeOffset? AppliedAt, FaultPolicy Faults,
    IReadOnlyDictionary<string, TargetPolicy> Targets, IReadOnlyDictionary<string, string> Breakers);
