using System.Security.Claims;
using Mercato.ServiceDefaults.Auth;
using Mercato.ServiceDefaults.Resilience;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Mercato.Gateway;

public static class ProxyPipeline
{
    public const string UserIdHeader = "X-User-Id";
    public const string UserRolesHeader = "X-User-Roles";
    private const int MaxAttempts = 3;

    /// <summary>
    /// User context: whatever X-User-* a client sent is dropped, then the gateway states who the validated token
    /// belongs to. The Authorization header is forwarded untouched, so services can validate it themselves.
    /// </summary>
    public static void AddUserContext(TransformBuilderContext context) => context.AddRequestTransform(transform =>
    {
        // YARP copies the incoming headers lazily; RequestTransform's helpers act on whichever copy is current.
        foreach (var name in transform.HttpContext.Request.Headers.Keys.Where(IsUserHeader).ToList())
        {
            RequestTransform.RemoveHeader(transform, name);
        }
        var user = transform.HttpContext.User;
        if (user.Identity?.IsAuthenticated == true && user.FindFirstValue(MercatoAuth.SubjectClaim) is { } userId)
        {
            RequestTransform.AddHeader(transform, UserIdHeader, userId);
            RequestTransform.AddHeader(transform, UserRolesHeader, string.Join(',', user.FindAll(MercatoAuth.RoleClaim).Select(c => c.Value)));
        }
        return ValueTask.CompletedTask;
    });

    private static bool IsUserHeader(string name) => name.StartsWith("X-User-", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// A request that could not reach its destination (an instance died and the registry has not noticed yet) is tried
    /// on another instance of the same service, only before any response. A refused connection means nothing was sent,
    /// so any request is tried again, a write too; after other failures (a timeout, a connection lost on the way) the
    /// destination may have acted on it, so only a safe method is.
    /// </summary>
    public static async Task RetryOnUnreachableDestination(HttpContext context, Func<Task> next)
    {
        var proxy = context.Features.GetRequiredFeature<Yarp.ReverseProxy.Model.IReverseProxyFeature>();
        var candidates = proxy.AvailableDestinations.ToList();
        for (var attempt = 1; ; attempt++)
        {
            proxy.AvailableDestinations = candidates;
            await next();
            var error = context.Features.Get<IForwarderErrorFeature>();
            var neverSent = error?.Exception is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError };
            if (error?.Error is not (ForwarderError.Request or ForwarderError.RequestTimedOut)
                || !(neverSent || HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method))
                || context.Response.HasStarted || attempt >= MaxAttempts)
            {
                return;
            }
            candidates = candidates.Where(d => d != proxy.ProxiedDestination).ToList();
            if (candidates.Count == 0)
            {
                return;
            }
            context.Features.Set<IForwarderErrorFeature>(null);
            context.Response.StatusCode = StatusCodes.Status200OK;
        }
    }

    /// <summary>
    /// The control plane's routing rule for the target service (weights by version, canary header), applied before
    /// load balancing picks among the instances of the chosen version.
    /// </summary>
    public static Task RouteByVersion(HttpContext context, Func<Task> next)
    {
        var proxy = context.Features.GetRequiredFeature<IReverseProxyFeature>();
        var service = proxy.Cluster.Config.ClusterId;
        var routing = context.RequestServices.GetRequiredService<PolicyStore>().Get(service).Routing;
        if (VersionRouter.HasRules(routing) && proxy.AvailableDestinations.Count > 0)
        {
            static string VersionOf(DestinationState d) => d.Model.Config.Metadata?.GetValueOrDefault("version") ?? "";
            var version = VersionRouter.Choose(routing, context.Request.Headers[routing.CanaryHeader].FirstOrDefault(),
                [.. proxy.AvailableDestinations.Select(VersionOf).Distinct()]);
            if (version is not null)
            {
                proxy.AvailableDestinations = [.. proxy.AvailableDestinations.Where(d => VersionOf(d) == version)];
            }
        }
        return next();
    }

    /// <summary>
    /// A service with no healthy instance, or none that accepts a connection, answers 503 with a problem document that
    /// says which, at once.
    /// </summary>
    public static async Task ExplainUnavailableService(HttpContext context, Func<Task> next)
    {
        await next();
        var error = context.Features.Get<IForwarderErrorFeature>();
        var unreachable = error?.Error == ForwarderError.NoAvailableDestinations
            || (error?.Error == ForwarderError.Request && error.Exception is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError });
        if (unreachable && !context.Response.HasStarted)
        {
            var service = context.GetRouteModel().Cluster?.ClusterId ?? "service";
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            context.Response.Headers.RetryAfter = Mercato.ServiceDefaults.Http.Downstream.RetryAfterSeconds;
            await context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
            {
                HttpContext = context,
                ProblemDetails =
                {
                    Status = StatusCodes.Status503ServiceUnavailable,
                    Title = "Service unavailable",
                    Detail = $"No healthy instance of '{service}' is reachable.",
                },
            });
        }
    }
}
