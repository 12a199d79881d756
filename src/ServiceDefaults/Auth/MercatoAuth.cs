using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace Mercato.ServiceDefaults.Auth;

/// <summary>Token conventions shared by the issuer (Identity) and every validator.</summary>
public static class MercatoAuth
{
    /// <summary>How far a token's lifetime may be off between the clocks of its issuer and its reader.</summary>
    public static readonly TimeSpan ClockSkew = TimeSpan.FromSeconds(30);

    /// <summary>How soon after its last JWKS fetch a service fetches again for a token naming a key it does not know.</summary>
    public static readonly TimeSpan JwksRefreshInterval = TimeSpan.FromSeconds(5);

    public const string DefaultIssuer = "mercato-identity";
    public const string DefaultAudience = "mercato";
    public const string AdminPolicy = "admin";
    public const string AdminRole = "admin";
    public const string CustomerRole = "customer";
    public const string RoleClaim = "role";
    public const string SubjectClaim = "sub";

    /// <summary>The HttpClient name used to fetch Identity's JWKS (resolved through discovery like any other call).</summary>
    public const string JwksClient = "jwks";

    public static string Issuer(IConfiguration config) => config["Auth:Issuer"] ?? DefaultIssuer;

    public static string Audience(IConfiguration config) => config["Auth:Audience"] ?? DefaultAudience;

    /// <summary>
    /// JWT bearer validation with the signing keys Identity publishes at /.well-known/jwks.json. Keys are cached and
    /// refetched when a token names an unknown key id, so key rotation needs no restart.
    /// </summary>
    public static IServiceCollection AddMercatoAuthentication(this IServiceCollection services, IConfiguration config)
    {
        services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme).AddJwtBearer();
        services.AddHttpClient(JwksClient);
        services.AddSingleton<SigningKeys>();
        services.AddOptions<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme)
            .Configure<IHttpClientFactory, SigningKeys>((options, httpClients, keys) =>
            {
                var issuer = Issuer(config);
                var jwksUrl = config["Auth:JwksUrl"] ?? "http://identity/.well-known/jwks.json";
                options.MapInboundClaims = false;
                options.RequireHttpsMetadata = false;
                options.TokenValidationParameters = new TokenValidationParameters
                {
                    ValidIssuer = issuer,
                    ValidAudience = Audience(config),
                    NameClaimType = SubjectClaim,
                    RoleClaimType = RoleClaim,
                    ClockSkew = ClockSkew,
                };
                options.Events = new JwtBearerEvents { OnChallenge = keys.AnswerUnavailableAsync };
                options.ConfigurationManager = new ConfigurationManager<OpenIdConnectConfiguration>(
                    jwksUrl,
                    new JwksRetriever(issuer, keys),
                    new HttpDocumentRetriever(httpClients.CreateClient(JwksClient)) { RequireHttps = false })
                {
                    AutomaticRefreshInterval = TimeSpan.FromMinutes(10),
                    RefreshInterval = JwksRefreshInterval,
                };
            });

        services.AddAuthorizationBuilder()
            .AddPolicy(AdminPolicy, policy => policy.RequireAuthenticatedUser().RequireRole(AdminRole))
            // Zero trust: an endpoint that does not say otherwise needs a valid token. Routing's own rejections (415:
            // no candidate accepts the body's media type; 405: none allows the method) are endpoints without metadata
            // that only set their status: they need no token, so an anonymous endpoint's 415 is not answered with 401.
            .SetFallbackPolicy(new AuthorizationPolicyBuilder()
                .RequireAssertion(context => context.User.Identity?.IsAuthenticated == true || IsRoutingRejection(context.Resource as HttpContext))
                .Build());
        return services;
    }

    private static bool IsRoutingRejection(HttpContext? context) =>
        context?.GetEndpoint() is { Metadata.Count: 0, DisplayName: "415 HTTP Unsupported Media Type" or "405 HTTP Method Not Supported" };

    /// <summary>Reads a bare JWKS document (no OpenID discovery document exists) into the configuration JwtBearer uses.</summary>
    private sealed class JwksRetriever(string issuer, SigningKeys keys) : IConfigurationRetriever<OpenIdConnectConfiguration>
    {
        public async Task<OpenIdConnectConfiguration> GetConfigurationAsync(string address, IDocumentRetriever retriever, CancellationToken cancel)
        {
            var document = await retriever.GetDocumentAsync(address, cancel);
            var configuration = new OpenIdConnectConfiguration { Issuer = issuer, JwksUri = address };
            foreach (var key in new JsonWebKeySet(document).GetSigningKeys())
            {
                configuration.SigningKeys.Add(key);
            }
            // A key set with no usable key is a failed fetch: the keys fetched before stay in use, and before any were
            // fetched a token still cannot be checked (503), as when identity does not answer.
            if (configuration.SigningKeys.Count == 0)
            {
                throw new InvalidOperationException($"The key set at {address} holds no usable signing key.");
            }
            keys.Fetched = true;
            return configuration;
        }
    }

    /// <summary>
    /// Whether identity's signing keys were ever fetched. Until they are, a token cannot be checked at all: it is not
    /// known to be invalid, so the answer is 503 with Retry-After, not a 401 that would make a client drop a good token
    /// (identity not up yet, or down since this process started). Once fetched, the keys stay cached through later
    /// outages, and a token signed with a key they do not hold is a 401.
    /// </summary>
    private sealed class SigningKeys
    {
        private volatile bool _fetched;

        public bool Fetched { get => _fetched; set => _fetched = value; }

        public async Task AnswerUnavailableAsync(JwtBearerChallengeContext context)
        {
            if (Fetched || context.AuthenticateFailure is not SecurityTokenSignatureKeyNotFoundException)
            {
                return;
            }
            context.HandleResponse();
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            // The next fetch may be tried this long after the last one.
            context.Response.Headers.RetryAfter = ((int)JwksRefreshInterval.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
            await context.HttpContext.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
            {
                HttpContext = context.HttpContext,
                ProblemDetails =
                {
                    Status = StatusCodes.Status503ServiceUnavailable,
                    Title = "Temporarily unavailable",
                    Detail = "The token cannot be checked: the identity service's signing keys could not be fetched yet. Retry in a few seconds.",
                },
            });
        }
    }
}
