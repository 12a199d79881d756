using System.Net.Http.Json;
using System.Text.Json;
using Xunit;

namespace Mercato.Testing;

/// <summary>Reads a service's published OpenAPI document (<c>/openapi/v1.json</c>) the way a client generator would.</summary>
public static class OpenApiAssert
{
    /// <summary>
    /// The operation <paramref name="method"/> <paramref name="path"/> (as the document spells the path), after checking
    /// that every schema reference in the document resolves.
    /// </summary>
    public static async Task<JsonElement> OperationAsync(HttpClient client, string method, string path)
    {
        var document = await client.GetFromJsonAsync<JsonElement>("/openapi/v1.json");
        ReferencesResolve(document);
        var paths = document.GetProperty("paths");
        Assert.True(paths.TryGetProperty(path, out var item), $"No path {path} in: {string.Join(", ", paths.EnumerateObject().Select(p => p.Name))}");
        Assert.True(item.TryGetProperty(method.ToLowerInvariant(), out var operation), $"No {method} on {path}");
        return operation.Clone();
    }

    /// <summary>Asserts that every schema reference in the document names a schema the document has.</summary>
    public static void ReferencesResolve(JsonElement document)
    {
        var schemas = document.TryGetProperty("components", out var components) && components.TryGetProperty("schemas", out var found) ? found : default;
        foreach (var reference in References(document))
        {
            Assert.True(reference.StartsWith("#/components/schemas/", StringComparison.Ordinal) && schemas.ValueKind == JsonValueKind.Object
                && schemas.TryGetProperty(reference[21..], out _), $"{reference} names no schema of the document");
        }
    }

    private static IEnumerable<string> References(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => element.EnumerateObject().SelectMany(p =>
            p.Name == "$ref" && p.Value.ValueKind == JsonValueKind.String ? [p.Value.GetString()!] : References(p.Value)),
        JsonValueKind.Array => element.EnumerateArray().SelectMany(References),
        _ => [],
    };

    /// <summary>
    /// Asserts that the operation lists exactly these status codes, every 4xx and 5xx among them as problem details, and
    /// a schema for every answer with a body.
    /// </summary>
    public static void Answers(JsonElement operation, params int[] statuses)
    {
        var responses = operation.GetProperty("responses");
        Assert.Equal(statuses.Select(s => s.ToString(System.Globalization.CultureInfo.InvariantCulture)).Order(),
            responses.EnumerateObject().Select(r => r.Name).Order());
        foreach (var response in responses.EnumerateObject().Where(r => r.Name[0] is '4' or '5'))
        {
            Assert.True(response.Value.TryGetProperty("content", out var content) && content.TryGetProperty("application/problem+json", out var problem)
                && problem.TryGetProperty("schema", out _), $"{response.Name} is not documented as problem details: {response.Value}");
        }
    }

    /// <summary>Asserts that the operation's answer <paramref name="status"/> declares the response header <paramref name="header"/>.</summary>
    public static void DeclaresHeader(JsonElement operation, int status, string header)
    {
        var answer = operation.GetProperty("responses").GetProperty(status.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(answer.TryGetProperty("headers", out var headers) && headers.TryGetProperty(header, out _), $"{status} does not declare {header}: {answer}");
    }

    /// <summary>Asserts that every success (2xx) of the operation declares the response header <paramref name="header"/>.</summary>
    public static void SuccessesDeclareHeader(JsonElement operation, string header)
    {
        var successes = operation.GetProperty("responses").EnumerateObject().Where(r => r.Name[0] == '2').ToList();
        Assert.NotEmpty(successes);
        foreach (var success in successes)
        {
            Assert.True(success.Value.TryGetProperty("headers", out var headers) && headers.TryGetProperty(header, out _),
                $"{success.Name} does not declare {header}: {success.Value}");
        }
    }

    /// <summary>
    /// Asserts that every operation of the service's document lists a success, with a schema wherever that success has a
    /// body (all but 204 and 304), and documents its 4xx and 5xx answers as problem details.
    /// </summary>
    public static async Task EveryOperationDocumentsItsAnswersAsync(HttpClient client)
    {
        var document = await client.GetFromJsonAsync<JsonElement>("/openapi/v1.json");
        var operations = document.GetProperty("paths").EnumerateObject()
            .SelectMany(path => path.Value.EnumerateObject().Select(op => (Name: $"{op.Name.ToUpperInvariant()} {path.Name}", Operation: op.Value)))
            .ToList();
        Assert.NotEmpty(operations);
        var undocumented = operations.SelectMany(op => op.Operation.GetProperty("responses").EnumerateObject()
                .Where(r => r.Name[0] == '2' && r.Name is not "204" && !HasSchema(r.Value, "application/json"))
                .Select(r => $"{op.Name} {r.Name} has no schema")
                .Concat(op.Operation.GetProperty("responses").EnumerateObject().Any(r => r.Name[0] == '2') ? [] : [$"{op.Name} lists no success"])
                .Concat(op.Operation.GetProperty("responses").EnumerateObject()
                    .Where(r => r.Name[0] is '4' or '5' && !HasSchema(r.Value, "application/problem+json"))
                    .Select(r => $"{op.Name} {r.Name} is not problem details")))
            .ToList();
        Assert.True(undocumented.Count == 0, string.Join(Environment.NewLine, undocumented));
    }

    private static bool HasSchema(JsonElement response, string mediaType) =>
        response.TryGetProperty("content", out var content) && content.TryGetProperty(mediaType, out var media) && media.TryGetProperty("schema", out _);

    /// <summary>Whether the operation requires the bearer scheme.</summary>
    public static bool RequiresBearer(JsonElement operation) =>
        operation.TryGetProperty("security", out var security) && security.EnumerateArray().Any(r => r.TryGetProperty("Bearer", out _));
}
