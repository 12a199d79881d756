using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Context.Propagation;

namespace Mercato.ServiceDefaults.Telemetry;

/// <summary>
/// The edge starts every trace itself. A client's <c>traceparent</c> would otherwise decide whether the request is
/// recorded (<c>-01</c> past the sampling ratio, <c>-00</c> hidden from every service), choose its trace id (splicing
/// its requests into someone else's trace), and its <c>baggage</c> would reach every service behind the gateway. Both
/// readers of inbound context are told to find none: ASP.NET Core's hosting layer (its
/// <see cref="DistributedContextPropagator"/>) and OpenTelemetry's ASP.NET Core instrumentation (the default text map
/// propagator). Outbound calls still carry the gateway's own context on to the services.
/// </summary>
public static class EdgeTracing
{
    public static IServiceCollection StartTracesAtTheEdge(this IServiceCollection services)
    {
        services.AddSingleton<DistributedContextPropagator>(new OutboundOnlyContextPropagator(DistributedContextPropagator.CreateDefaultPropagator()));
        Sdk.SetDefaultTextMapPropagator(new OutboundOnlyTextMapPropagator(
            new CompositeTextMapPropagator([new TraceContextPropagator(), new BaggagePropagator()])));
        return services;
    }

    private sealed class OutboundOnlyContextPropagator(DistributedContextPropagator inner) : DistributedContextPropagator
    {
        public override IReadOnlyCollection<string> Fields => inner.Fields;

        public override IEnumerable<KeyValuePair<string, string?>>? ExtractBaggage(object? carrier, PropagatorGetterCallback? getter) => null;

        public override void ExtractTraceIdAndState(object? carrier, PropagatorGetterCallback? getter, out string? traceId, out string? traceState)
        {
            traceId = null;
            traceState = null;
        }

        public override void Inject(Activity? activity, object? carrier, PropagatorSetterCallback? setter) => inner.Inject(activity, carrier, setter);
    }

    private sealed class OutboundOnlyTextMapPropagator(TextMapPropagator inner) : TextMapPropagator
    {
        public override ISet<string>? Fields => inner.Fields;

        public override PropagationContext Extract<T>(PropagationContext context, T carrier, Func<T, string, IEnumerable<string>?> getter) => context;

        public override void Inject<T>(PropagationContext context, T carrier, Action<T, string, string> setter) => inner.Inject(context, carrier, setter);
    }
}
