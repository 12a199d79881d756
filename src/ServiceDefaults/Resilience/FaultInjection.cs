using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Polly;
using Polly.Simmy;
using Wolverine;

namespace Mercato.ServiceDefaults.Resilience;

/// <summary>
/// Chaos from the control plane, built on Polly's chaos strategies (Simmy): the faults this service's entry in the policy
/// document asks for are injected into the requests it receives. Infrastructure endpoints (health, metrics, the
/// control plane itself) and sign-in are never affected, so a chaos experiment cannot lock its operator out: with every
/// sign-in failing, nobody could get the admin token that ends the experiment once theirs expired.
/// </summary>
public sealed class FaultInjectionMiddleware(RequestDelegate next, PolicyStore policies)
{
    // Replaced whole, and keyed on the faults themselves: a request sees one pipeline built from exactly the faults it read.
    private Chaos? _chaos;

    private sealed record Chaos(FaultPolicy Faults, ResiliencePipeline Pipeline);

    public async Task InvokeAsync(HttpContext context)
    {
        var faults = policies.CurrentValue.Faults;
        if (!faults.AffectsRequests || IsExempt(context.Request.Path))
        {
            await next(context);
            return;
        }
        try
        {
            await ChaosFor(faults).ExecuteAsync(static async (context, ct) => await context.next(context.context),
                (next, context), context.RequestAborted);
        }
        catch (InjectedAbortException)
        {
            context.Abort();
        }
        catch (InjectedFaultException) when (!context.Response.HasStarted)
        {
            context.Response.StatusCode = faults.ErrorStatus;
            context.Response.Headers["X-Injected-Fault"] = "error";
            // No Retry-After, unlike the 503s the service gives itself: callers' retry pipelines honour it, so a 5 s hint
            // would replace the jittered backoff that injected errors are there to exercise.
            await context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
            {
                HttpContext = context,
                ProblemDetails = { Status = faults.ErrorStatus, Title = "Injected fault", Detail = $"The control plane injects errors into {policies.Self}." },
            });
        }
    }

    private ResiliencePipeline ChaosFor(FaultPolicy faults)
    {
        if (Volatile.Read(ref _chaos) is { } cached && cached.Faults == faults)
        {
            return cached.Pipeline;
        }
        var pipeline = new ResiliencePipelineBuilder()
            .AddChaosLatency(faults.LatencyMs > 0 ? faults.LatencyRate : 0, TimeSpan.FromMilliseconds(faults.LatencyMs))
            .AddChaosFault(faults.AbortRate, () => new InjectedAbortException())
            .AddChaosFault(faults.ErrorRate, () => new InjectedFaultException($"Injected error in {policies.Self}"))
            .Build();
        Volatile.Write(ref _chaos, new Chaos(faults, pipeline));
        return pipeline;
    }

    public static bool IsExempt(PathString path) =>
        path.StartsWithSegments("/health") || path.StartsWithSegments("/metrics") || path.StartsWithSegments("/registry")
        || path.StartsWithSegments("/api/registry") || path.StartsWithSegments("/.well-known")
        || path.StartsWithSegments("/api/identity/token")
        || (path.Value?.Contains("/admin/policies", StringComparison.Ordinal) ?? false);
}

/// <summary>
/// The message-handler side of fault injection: Wolverine runs this before every handler. An injected error goes
/// through the normal error policy (retries, then the dead-letter queue with the reason).
/// </summary>
public static class MessageFaultInjection
{
    public static async Task BeforeAsync(Envelope envelope, PolicyStore policies, CancellationToken cancellation)
    {
        var faults = policies.CurrentValue.Faults;
        if (!faults.AffectsMessages)
        {
            return;
        }
        if (faults.MessageLatencyMs > 0 && Random.Shared.NextDouble() < faults.MessageLatencyRate)
        {
            await Task.Delay(faults.MessageLatencyMs, cancellation);
        }
        if (Random.Shared.NextDouble() < faults.MessageErrorRate)
        {
            throw new InjectedFaultException($"Injected error in {policies.Self} handling {envelope.MessageType}");
        }
    }
}

public sealed class InjectedFaultException(string message) : Exception(message);

public sealed class InjectedAbortException() : Exception("Injected connection abort");
