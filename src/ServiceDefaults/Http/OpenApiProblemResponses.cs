using System.Globalization;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Mercato.ServiceDefaults.Http;

/// <summary>
/// What every endpoint may answer besides its own results, written into each service's OpenAPI document once rather
/// than on every endpoint: 400 problem details naming the field when a parameter or body cannot be bound
/// (<see cref="ProblemDetailsExceptionHandler"/>), 413 and 415 where it takes a body (over the size limit; not JSON, or
/// a charset other than UTF-8), 503 with <c>Retry-After</c> everywhere (its database, a service it calls or the signing
/// keys unavailable; an injected fault's 503 has no <c>Retry-After</c>), 401 where the endpoint is not anonymous (the fallback policy asks for a
/// signed-in user), 403 where it needs a policy or a role, and the bearer scheme those operations require.
/// Endpoint-specific answers (201, 404, 409, 422, ...) are declared on the endpoints themselves.
/// </summary>
public sealed class OpenApiProblemResponses : IOpenApiDocumentTransformer, IOpenApiOperationTransformer
{
    public const string BearerScheme = "Bearer";

    public Task TransformAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            BearerFormat = "JWT",
            Description = "An access token from POST /api/identity/token.",
        };
        return Task.CompletedTask;
    }

    public async Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        operation.Responses ??= new OpenApiResponses();
        DocumentReplayedHeader(operation);
        var metadata = context.Description.ActionDescriptor.EndpointMetadata;
        if (context.Description.ParameterDescriptions.Count > 0)
        {
            await AddProblemAsync(operation, context, StatusCodes.Status400BadRequest, typeof(HttpValidationProblemDetails),
                "The request is invalid; the problem's errors name each field.", cancellationToken);
        }
        if (operation.RequestBody is not null)
        {
            await AddProblemAsync(operation, context, StatusCodes.Status413PayloadTooLarge, typeof(Microsoft.AspNetCore.Mvc.ProblemDetails),
                $"The body is larger than {ServiceDefaultsExtensions.MaxRequestBodyBytes / 1024 / 1024} MB.", cancellationToken);
            await AddProblemAsync(operation, context, StatusCodes.Status415UnsupportedMediaType, typeof(Microsoft.AspNetCore.Mvc.ProblemDetails),
                "The body is not JSON (Content-Type), or its charset is not UTF-8.", cancellationToken);
        }
        await AddProblemAsync(operation, context, StatusCodes.Status503ServiceUnavailable, typeof(Microsoft.AspNetCore.Mvc.ProblemDetails),
            "Unavailable now: the service's database, a service it needs or the signing keys. Try again after Retry-After seconds.",
            cancellationToken);
        DocumentRetryAfter(operation);
        if (metadata.OfType<IAllowAnonymous>().Any())
        {
            return;
        }
        await AddProblemAsync(operation, context, StatusCodes.Status401Unauthorized, typeof(Microsoft.AspNetCore.Mvc.ProblemDetails),
            "No valid bearer token.", cancellationToken);
        if (metadata.OfType<IAuthorizeData>().Any(a => a.Policy is not null || a.Roles is not null))
        {
            await AddProblemAsync(operation, context, StatusCodes.Status403Forbidden, typeof(Microsoft.AspNetCore.Mvc.ProblemDetails),
                "The signed-in user may not do this.", cancellationToken);
        }
        operation.Security ??= [];
        operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, context.Document)] = [] });
    }

    /// <summary>
    /// An operation that takes an Idempotency-Key may answer a retry with the first request's answer, marked
    /// <see cref="IdempotencyKeyHeader.ReplayedHeader"/>: declared on its successes so a client generator exposes it.
    /// </summary>
    private static void DocumentReplayedHeader(OpenApiOperation operation)
    {
        if (operation.Parameters?.Any(p => p.In == ParameterLocation.Header
                && string.Equals(p.Name, IdempotencyKeyHeader.Name, StringComparison.OrdinalIgnoreCase)) != true)
        {
            return;
        }
        foreach (var (status, response) in operation.Responses!)
        {
            if (status[0] == '2' && response is OpenApiResponse success)
            {
                success.Headers ??= new Dictionary<string, IOpenApiHeader>();
                success.Headers[IdempotencyKeyHeader.ReplayedHeader] = new OpenApiHeader
                {
                    Description = "true when this is the answer given before to the same Idempotency-Key: the retry changed nothing.",
                    Schema = new OpenApiSchema { Type = JsonSchemaType.String, Enum = [System.Text.Json.Nodes.JsonValue.Create("true")] },
                };
            }
        }
    }

    /// <summary>Every 503 here, and every 429, says how long to wait.</summary>
    private static void DocumentRetryAfter(OpenApiOperation operation)
    {
        foreach (var (status, response) in operation.Responses!)
        {
            if (status is "503" or "429" && response is OpenApiResponse answer)
            {
                answer.Headers ??= new Dictionary<string, IOpenApiHeader>();
                answer.Headers["Retry-After"] = new OpenApiHeader
                {
                    Description = "Seconds to wait before trying again.",
                    Schema = new OpenApiSchema { Type = JsonSchemaType.Integer },
                };
            }
        }
    }

    private static async Task AddProblemAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, int status, Type problem,
        string description, CancellationToken cancellationToken)
    {
        var key = status.ToString(CultureInfo.InvariantCulture);
        if (operation.Responses!.ContainsKey(key))
        {
            return;
        }
        // One shared component per problem type, as the endpoints' own Produces metadata gets, not a copy per answer.
        var document = context.Document!;
        document.Components ??= new OpenApiComponents();
        document.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
        if (!document.Components.Schemas.ContainsKey(problem.Name))
        {
            document.Components.Schemas[problem.Name] = await context.GetOrCreateSchemaAsync(problem, null, cancellationToken);
        }
        operation.Responses[key] = new OpenApiResponse
        {
            Description = description,
            Content = new Dictionary<string, OpenApiMediaType>
            {
                ["application/problem+json"] = new() { Schema = new OpenApiSchemaReference(problem.Name, document) },
            },
        };
    }
}
