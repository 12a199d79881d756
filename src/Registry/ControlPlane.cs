using System.Security.Cryptography;
using System.Text.Json;
using Mercato.ServiceDefaults.Auth;
using Mercato.ServiceDefaults.Resilience;

namespace Mercato.Registry;

/// <summary>
/// The control plane's policy document. Every accepted change gets the next version; instances pull it and apply it
/// within their refresh interval. With <c>ControlPlane:StateFile</c> set, the document survives a registry restart.
/// Its entity tag is the version and a hash of the content: a registry that lost its state numbers from 1 again, and an
/// instance holding another document of the same number must not be told "not modified".
/// </summary>
public sealed class PolicyRepository
{
    private readonly Lock _gate = new();
    private readonly string? _stateFile;
    private readonly ILogger<PolicyRepository> _logger;
    private TaggedDocument _current;

    private sealed record TaggedDocument(MeshPolicy Document, string ETag)
    {
        public static TaggedDocument Of(MeshPolicy document) => new(document,
            $"\"{document.Version}-{Convert.ToHexStringLower(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(document, MeshPolicy.Json)))[..16]}\"");
    }

    public PolicyRepository(IConfiguration config, ILogger<PolicyRepository> logger)
    {
        _logger = logger;
        _stateFile = config["ControlPlane:StateFile"];
        var document = new MeshPolicy { Version = 1 };
        if (_stateFile is not null && File.Exists(_stateFile))
        {
            document = Load(_stateFile) ?? document;
        }
        _current = TaggedDocument.Of(document);
    }

    /// <summary>
    /// The saved document, held to the same rules as a PUT: a file edited by hand (or written by a newer build) with a
    /// value the pipelines cannot take would otherwise be served to every instance. Such a file is moved aside and the
    /// registry starts from the defaults, so the system keeps running and the operator finds the file and the reason.
    /// </summary>
    private MeshPolicy? Load(string stateFile)
    {
        string problem;
        try
        {
            var loaded = JsonSerializer.Deserialize<MeshPolicy>(File.ReadAllText(stateFile), MeshPolicy.Json);
            var errors = loaded is null ? new() { [""] = ["The document is null."] } : MeshPolicyValidator.Validate(loaded);
            if (errors.Count == 0)
            {
                _logger.LogInformation("Policy document version {Version} loaded from {File}", loaded!.Version, stateFile);
                return loaded;
            }
            problem = string.Join("; ", errors.Select(e => $"{e.Key}: {string.Join(" ", e.Value)}"));
        }
        catch (JsonException ex)
        {
            problem = ex.Message;
        }
        var aside = $"{stateFile}.invalid-{DateTime.UtcNow:yyyyMMddHHmmss}";
        File.Move(stateFile, aside, overwrite: true);
        _logger.LogError("Policy document in {File} is invalid ({Problem}); moved to {Aside}, starting from the defaults", stateFile, problem, aside);
        return null;
    }

    public MeshPolicy Current => Volatile.Read(ref _current).Document;

    /// <summary>The document in force and its entity tag, read together.</summary>
    public (MeshPolicy Document, string ETag) CurrentWithETag
    {
        get
        {
            var current = Volatile.Read(ref _current);
            return (current.Document, current.ETag);
        }
    }

    public MeshPolicy Replace(MeshPolicy proposed)
    {
        lock (_gate)
        {
            var next = proposed with { Version = _current.Document.Version + 1 };
            if (_stateFile is not null)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(_stateFile))!);
                var temporary = _stateFile + ".tmp";
                File.WriteAllText(temporary, JsonSerializer.Serialize(next, MeshPolicy.Json));
                File.Move(temporary, _stateFile, overwrite: true);
            }
            Volatile.Write(ref _current, TaggedDocument.Of(next));
            _logger.LogInformation("Policy document version {Version} accepted", next.Version);
            return next;
        }
    }
}

public static class ControlPlaneEndpoints
{
    public static void MapControlPlaneEndpoints(this WebApplication app)
    {
        // Pulled by every instance (internal, like registration): answers 304 while the caller holds the current tag.
        app.MapGet("/registry/v1/policies", (HttpContext context, PolicyRepository repository) =>
        {
            var (current, etag) = repository.CurrentWithETag;
            if (context.Request.Headers.IfNoneMatch.Contains(etag))
            {
                return Results.StatusCode(StatusCodes.Status304NotModified);
            }
            context.Response.Headers.ETag = etag;
            return Results.Json(current, MeshPolicy.Json);
        }).AllowAnonymous().WithTags("Registration").Produces<MeshPolicy>().Produces(StatusCodes.Status304NotModified);

        var policies = app.MapGroup("/api/registry/policies").RequireAuthorization(MercatoAuth.AdminPolicy).WithTags("Control plane");
        policies.MapGet("/", (PolicyRepository repository) => Results.Json(repository.Current, MeshPolicy.Json)).Produces<MeshPolicy>();
        policies.MapPut("/", async (HttpRequest request, PolicyRepository repository, CancellationToken ct) =>
        {
            MeshPolicy? proposed;
            try
            {
                proposed = await JsonSerializer.DeserializeAsync<MeshPolicy>(request.Body, MeshPolicy.Json, ct);
            }
            catch (JsonException ex)
            {
                // The serializer's own message names .NET types; the client needs the field and what kind of mistake.
                var field = JsonPath(ex.Path);
                var message = ex.InnerException is JsonException || field == "body"
                    ? $"Not valid JSON (line {ex.LineNumber + 1})."
                    : "Not a field of the policy document, or a value of the wrong type or out of range.";
                return Results.ValidationProblem(
                    new Dictionary<string, string[]> { [field] = [message] },
                    title: "The policy document is not valid JSON for this schema");
            }
            if (proposed is null)
            {
                return Results.ValidationProblem(new Dictionary<string, string[]> { ["body"] = ["A policy document is required."] });
            }
            var errors = MeshPolicyValidator.Validate(proposed);
            return errors.Count > 0
                ? Results.ValidationProblem(errors, title: "The policy document was refused; the one in force stays")
                : Results.Json(repository.Replace(proposed), MeshPolicy.Json);
        }).Accepts<MeshPolicy>("application/json").Produces<MeshPolicy>().ProducesValidationProblem();
    }

    /// <summary>"$.targets.catalog.retry.maxRetrys" → "targets.catalog.retry.maxRetrys"; the document as a whole is "body", as in every service.</summary>
    private static string JsonPath(string? path) => string.IsNullOrEmpty(path) || path == "$" ? "body" : path.TrimStart('$', '.');
}
