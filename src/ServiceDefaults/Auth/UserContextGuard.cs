using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Primitives;

namespace Mercato.ServiceDefaults.Auth;

/// <summary>
/// Services trust the token, never a header. The gateway states the caller in X-User-Id / X-User-Roles; a request whose
/// user headers disagree with its validated token was forged, and is refused. Without a token this service accepts (none,
/// or one it cannot check: expired since the gateway checked it, or identity's keys not fetched here yet) the headers
/// state nothing: they are dropped, and the request is answered as any unauthenticated one (401, or 503 while the keys
/// cannot be fetched), not refused as forged.
/// </summary>
public sealed class UserContextGuard(RequestDelegate next)
{
    public const string UserIdHeader = "X-User-Id";
    public const string UserRolesHeader = "X-User-Roles";

    public async Task InvokeAsync(HttpContext context, IProblemDetailsService problems)
    {
        var headers = context.Request.Headers;
        if (context.User.Identity?.IsAuthenticated != true)
        {
            headers.Remove(UserIdHeader);
            headers.Remove(UserRolesHeader);
        }
        else if ((headers.ContainsKey(UserIdHeader) || headers.ContainsKey(UserRolesHeader)) && !MatchesToken(context))
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await problems.WriteAsync(new ProblemDetailsContext
            {
                HttpContext = context,
                ProblemDetails = new ProblemDetails
                {
                    Status = StatusCodes.Status400BadRequest,
                    Title = "Inconsistent user context",
                    Detail = $"The {UserIdHeader} / {UserRolesHeader} headers do not match the caller's token.",
                },
            });
            return;
        }
        await next(context);
    }

    private static bool MatchesToken(HttpContext context)
    {
        var user = context.User;
        var headers = context.Request.Headers;
        var subject = user.FindFirst(MercatoAuth.SubjectClaim)?.Value;
        if (headers.TryGetValue(UserIdHeader, out var id) && (id.Count != 1 || id[0] != subject))
        {
            return false;
        }
        if (headers.TryGetValue(UserRolesHeader, out var roles))
        {
            var claimed = SplitRoles(roles);
            var actual = user.FindAll(MercatoAuth.RoleClaim).Select(c => c.Value).ToHashSet(StringComparer.Ordinal);
            return claimed.SetEquals(actual);
        }
        return true;
    }

    private static HashSet<string> SplitRoles(StringValues values) =>
        values.SelectMany(v => (v ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .ToHashSet(StringComparer.Ordinal);
}
