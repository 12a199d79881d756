using Microsoft.Extensions.Configuration;

namespace Mercato.ServiceDefaults;

/// <summary>
/// Which engines the same binaries run on, chosen by configuration (<c>Mercato:Profile</c>, env <c>Mercato__Profile</c>):
/// <see cref="Embedded"/> needs nothing installed (SQLite files, Wolverine's TCP transport); <see cref="ScaleOut"/>
/// uses PostgreSQL (a database per service) and RabbitMQ, and allows several instances of every service.
/// Only composition roots look at it.
/// </summary>
public enum DeploymentProfile
{
    Embedded,
    ScaleOut,
}

public static class DeploymentProfiles
{
    public const string ConfigKey = "Mercato:Profile";

    public static DeploymentProfile From(IConfiguration config) => Parse(config[ConfigKey]);

    /// <summary>Accepts "Embedded", "ScaleOut" and "scale-out" (any case); anything else is a configuration error.</summary>
    public static DeploymentProfile Parse(string? value) =>
        value?.Replace("-", "", StringComparison.Ordinal).ToUpperInvariant() switch
        {
            null or "" or "EMBEDDED" => DeploymentProfile.Embedded,
            "SCALEOUT" => DeploymentProfile.ScaleOut,
            _ => throw new InvalidOperationException($"{ConfigKey} '{value}' is not a profile; use Embedded or ScaleOut."),
        };
}
