namespace Mercato.Gateway;

/// <summary>
/// Behind the Ingress (forwarded headers on, deploy/overlays/production), the gateway's own metrics and detailed health
/// report are for the cluster only: Prometheus and the kubelet reach the pod directly, visitors arrive through the
/// Ingress, and the Ingress's X-Forwarded-For marks their requests (ASP.NET Core keeps the original in X-Original-For).
/// Without this, anyone on the internet could read breaker states and runtime figures, and make the gateway ask the
/// registry for the detailed report on every call. The probes' /health/live and /health/ready stay open.
/// </summary>
public static class ClusterOnlyEndpoints
{
    private const string ForwardedMarker = "X-Original-For";

    public static async Task HideFromForwardedCallersAsync(HttpContext context, Func<Task> next)
    {
        var path = context.Request.Path;
        var clusterOnly = path.StartsWithSegments("/metrics")
            || (path.StartsWithSegments("/health") && !path.StartsWithSegments("/health/live") && !path.StartsWithSegments("/health/ready"));
        if (clusterOnly && context.Request.Headers.ContainsKey(ForwardedMarker))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            await context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
            {
                HttpContext = context,
                ProblemDetails = { Status = StatusCodes.Status404NotFound, Title = "Not found", Detail = "Served inside the cluster only." },
            });
            return;
        }
        await next();
    }
}
