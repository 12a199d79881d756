using System.Text.Json.Nodes;
using Mercato.ServiceDefaults.Resilience;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using Scalar.AspNetCore;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Configuration;

namespace Mercato.Gateway;

/// <summary>
/// One API reference for the whole system at the edge: <c>/scalar/</c> (Scalar) shows the OpenAPI document of every
/// service the gateway routes, each served by the gateway at <c>/openapi/services/{service}.json</c> as a client of the
/// gateway sees it: only the paths the gateway routes to that service, and the gateway as the one server (a URL relative
/// to where the document is served, as OpenAPI allows), so requests tried from the page or a generated client go to the
/// gateway (with its authentication, rate limits and cache), never to a service's internal address. The gateway's own endpoints are the document named <c>gateway</c>.
/// </summary>
public sealed class ApiReference(HttpClient http, IProxyStateLookup proxy, InMemoryConfigProvider routes, GatewayOptions settings,
    ILogger<ApiReference> logger)
{
    public const string GatewayDocument = "gateway";
    public const string DocumentRoute = "/openapi/services/{documentName}.json";
    private const string ServiceDocumentPath = "/openapi/v1.json";

    /// <summary>The output-cache tag of served documents (to drop them all at once).</summary>
    public const string CacheTag = "api-reference";

    /// <summary>How long a served document is kept.</summary>
    public static readonly TimeSpan DocumentLifetime = TimeSpan.FromSeconds(10);

    public static void AddTo(IServiceCollection services, GatewayOptions settings)
    {
        // The fetch is not cancelled with its first caller: this bounds reading the body too (the sidecar's timeouts end
        // when the headers arrive).
        services.AddHttpClient(nameof(ApiReference), client => client.Timeout = TimeSpan.FromSeconds(15))
            .AddTypedClient((client, sp) => new ApiReference(client, sp.GetRequiredService<IProxyStateLookup>(),
                sp.GetRequiredService<InMemoryConfigProvider>(), settings, sp.GetRequiredService<ILogger<ApiReference>>()));
        services.AddOutputCache();
    }

    public static void Map(WebApplication app)
    {
        // Anyone may ask, and each answer costs the service a document generated afresh: answers are kept a few seconds,
        // and callers asking at once share one fetch (output caching's locking). The document does not depend on the Host
        // the caller sent, so the cache does not vary by it: a caller sending a new Host each time would otherwise make
        // the service generate its document for every request.
        // The fetch is shared, so it does not stop when the caller that started it goes away (the others would get its
        // cancellation); the client's timeout bounds it.
        app.MapGet(DocumentRoute, (string documentName, ApiReference reference, HttpContext context) =>
                reference.DocumentAsync(documentName, context))
            .AllowAnonymous()
            .CacheOutput(new SharedDocumentPolicy())
            .ExcludeFromDescription();
        app.MapScalarApiReference("/scalar", (options, context) =>
        {
            options.WithTitle("Mercato API")
                .WithOpenApiRoutePattern(DocumentRoute)
                .AddPreferredSecuritySchemes(["Bearer"])
                // Nothing on the page calls out of the system: no usage pings, no hosted AI chat, no vendor toolbar.
                .DisableTelemetry()
                .DisableAgent()
                .DisableMcp();
            options.ShowDeveloperTools = DeveloperToolsVisibility.Never;
            foreach (var service in Documents(context.RequestServices.GetRequiredService<InMemoryConfigProvider>()))
            {
                options.AddDocument(service, Titled(service));
            }
        }).AllowAnonymous();
    }

    /// <summary>
    /// One cached copy of each document for everyone: not varied by Host, query string or credentials, none of which the
    /// document depends on. The framework's default policy varies by every query key and neither looks up nor stores a
    /// request with an Authorization header, so ?n=1, ?n=2, ... or any token made every request a fresh fetch.
    /// </summary>
    private sealed class SharedDocumentPolicy : Microsoft.AspNetCore.OutputCaching.IOutputCachePolicy
    {
        public ValueTask CacheRequestAsync(Microsoft.AspNetCore.OutputCaching.OutputCacheContext context, CancellationToken cancellation)
        {
            var method = context.HttpContext.Request.Method;
            var cacheable = HttpMethods.IsGet(method) || HttpMethods.IsHead(method);
            context.EnableOutputCaching = true;
            context.AllowCacheLookup = cacheable;
            context.AllowCacheStorage = cacheable;
            context.AllowLocking = true;
            context.CacheVaryByRules.VaryByHost = false;
            context.ResponseExpirationTimeSpan = DocumentLifetime;
            context.Tags.Add(CacheTag);
            return ValueTask.CompletedTask;
        }

        public ValueTask ServeFromCacheAsync(Microsoft.AspNetCore.OutputCaching.OutputCacheContext context, CancellationToken cancellation) =>
            ValueTask.CompletedTask;

        /// <summary>Only a document is kept: a 404 or 503 problem is answered afresh.</summary>
        public ValueTask ServeResponseAsync(Microsoft.AspNetCore.OutputCaching.OutputCacheContext context, CancellationToken cancellation)
        {
            if (context.HttpContext.Response.StatusCode != StatusCodes.Status200OK)
            {
                context.AllowCacheStorage = false;
            }
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>The gateway's own document first, then every service it routes, by name.</summary>
    private static IReadOnlyList<string> Documents(InMemoryConfigProvider routes) =>
        [GatewayDocument, .. routes.GetConfig().Clusters.Select(c => c.ClusterId).Order(StringComparer.Ordinal)];

    private async Task<IResult> DocumentAsync(string service, HttpContext context)
    {
        if (service == GatewayDocument)
        {
            var own = await context.RequestServices.GetRequiredKeyedService<IOpenApiDocumentProvider>("v1").GetOpenApiDocumentAsync();
            return Served(GatewayDocument, JsonNode.Parse(await own.SerializeAsJsonAsync(OpenApiSpecVersion.OpenApi3_1)), ["/api/"], context.Request);
        }
        if (!proxy.TryGetCluster(service, out var cluster))
        {
            return Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such service",
                detail: $"The gateway routes no service named '{service}'. It routes: {string.Join(", ", Documents(routes))}.",
                extensions: new Dictionary<string, object?> { ["service"] = service });
        }
        // Any instance will do; one that does not answer is passed over for the next.
        foreach (var destination in cluster.DestinationsState.AvailableDestinations)
        {
            try
            {
                // Through the service's own sidecar pipeline: keyed by the address, every service on one host would
                // share a breaker, and one service's failing document would open it for all.
                using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(new Uri(destination.Model.Config.Address), ServiceDocumentPath))
                    .ForTarget(cluster.ClusterId);
                using var response = await http.SendAsync(request);
                response.EnsureSuccessStatusCode();
                var document = await response.Content.ReadFromJsonAsync<JsonNode>();
                // The cluster's own id: the lookup ignores case, and a pipeline keyed on the caller's spelling would be
                // a new breaker (and metric series) per spelling, without the operator's policy for the service.
                var prefixes = settings.PathPrefixes.GetValueOrDefault(cluster.ClusterId) ?? [$"/api/{cluster.ClusterId}"];
                return Served(cluster.ClusterId, document, [.. prefixes.Select(p => p.TrimEnd('/'))], context.Request);
            }
            // Polly's rejections: an open breaker, a timeout, the target's rate limit or bulkhead.
            catch (Exception ex) when (ex is HttpRequestException or System.Text.Json.JsonException or TaskCanceledException
                or Polly.ExecutionRejectedException)
            {
                logger.LogWarning(ex, "The OpenAPI document of {Service} at {Destination} could not be read", service, destination.DestinationId);
            }
        }
        context.Response.Headers.RetryAfter = Mercato.ServiceDefaults.Http.Downstream.RetryAfterSeconds;
        return Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "API description unavailable",
            detail: $"No instance of '{service}' gave its OpenAPI document just now.",
            extensions: new Dictionary<string, object?> { ["service"] = service });
    }

    /// <summary>The document as the gateway's clients see it: the paths it routes, on the gateway that served it.</summary>
    private static IResult Served(string service, JsonNode? document, IReadOnlyList<string> prefixes, HttpRequest request)
    {
        if (document is not JsonObject root)
        {
            return Results.Problem(statusCode: StatusCodes.Status502BadGateway, title: "API description unreadable",
                detail: $"'{service}' answered something that is not an OpenAPI document.",
                extensions: new Dictionary<string, object?> { ["service"] = service });
        }
        root["servers"] = new JsonArray(new JsonObject { ["url"] = request.PathBase.HasValue ? request.PathBase.Value : "/" });
        if (root["paths"] is JsonObject paths)
        {
            foreach (var path in paths.Select(p => p.Key).Where(p => !prefixes.Any(prefix => Routed(p, prefix))).ToList())
            {
                paths.Remove(path);
            }
            DropUnused(root, paths);
        }
        // Written as text: a JSON result writes with the request's abort token, so once the caller that started a shared
        // fetch has gone, the body is dropped for every caller waiting on it (an empty 200); text is written regardless.
        return Results.Text(root.ToJsonString(), "application/json", System.Text.Encoding.UTF8);
    }

    /// <summary>Schemas and tags only the dropped paths used would describe things a client cannot reach.</summary>
    private static void DropUnused(JsonObject root, JsonObject paths)
    {
        if (root["components"]?["schemas"] is JsonObject schemas)
        {
            const string SchemaRef = "#/components/schemas/";
            var used = new HashSet<string>(StringComparer.Ordinal);
            var pending = new Stack<JsonNode?>([paths]);
            while (pending.TryPop(out var node))
            {
                if (node is JsonObject item)
                {
                    foreach (var (name, value) in item)
                    {
                        if (name == "$ref" && value?.GetValueKind() == System.Text.Json.JsonValueKind.String
                            && value.GetValue<string>() is { } target && target.StartsWith(SchemaRef, StringComparison.Ordinal)
                            && used.Add(target[SchemaRef.Length..]))
                        {
                            pending.Push(schemas[target[SchemaRef.Length..]]);
                        }
                        else
                        {
                            pending.Push(value);
                        }
                    }
                }
                else if (node is JsonArray list)
                {
                    foreach (var element in list)
                    {
                        pending.Push(element);
                    }
                }
            }
            foreach (var schema in schemas.Select(s => s.Key).Where(s => !used.Contains(s)).ToList())
            {
                schemas.Remove(schema);
            }
        }
        if (root["tags"] is JsonArray tags)
        {
            var usedTags = paths.Select(path => path.Value).OfType<JsonObject>()
                .SelectMany(item => item.Select(entry => entry.Value).OfType<JsonObject>())
                .SelectMany(operation => operation["tags"] as JsonArray ?? [])
                .Select(tag => tag?.GetValue<string>())
                .ToHashSet(StringComparer.Ordinal);
            foreach (var tag in tags.Where(t => !usedTags.Contains(t?["name"]?.GetValue<string>())).ToList())
            {
                tags.Remove(tag);
            }
        }
    }

    private static bool Routed(string path, string prefix) =>
        prefix.EndsWith('/') ? path.StartsWith(prefix, StringComparison.Ordinal)
            : path == prefix || path.StartsWith(prefix + "/", StringComparison.Ordinal);

    private static string Titled(string service) => char.ToUpperInvariant(service[0]) + service[1..];
}
