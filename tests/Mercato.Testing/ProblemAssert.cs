using System.Net;
using System.Text.Json;
using Xunit;

namespace Mercato.Testing;

public static class ProblemAssert
{
    /// <summary>Asserts an RFC 9457 problem response with the given status; returns its JSON.</summary>
    public static async Task<JsonElement> IsProblem(HttpResponseMessage response, HttpStatusCode status)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"Expected {(int)status} but got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var json = JsonDocument.Parse(body).RootElement.Clone();
        Assert.Equal((int)status, json.GetProperty("status").GetInt32());
        Assert.DoesNotContain("   at ", body, StringComparison.Ordinal);
        return json;
    }

    /// <summary>Asserts a validation problem (400 unless <paramref name="status"/> says otherwise) that names <paramref name="field"/>.</summary>
    public static async Task NamesField(HttpResponseMessage response, string field, HttpStatusCode status = HttpStatusCode.BadRequest)
    {
        var json = await IsProblem(response, status);
        Assert.True(json.TryGetProperty("errors", out var errors) && errors.TryGetProperty(field, out _),
            $"Expected the problem to name '{field}': {json}");
    }
}
