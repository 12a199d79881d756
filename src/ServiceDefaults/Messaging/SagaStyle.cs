using Microsoft.Extensions.Configuration;

namespace Mercato.ServiceDefaults.Messaging;

/// <summary>
/// How the order flow is coordinated, chosen once at start-up for the whole system (Ordering:SagaStyle):
/// Ordering's saga sends commands (orchestration), or every service reacts to the others' events (choreography).
/// Each service reads it in its composition root only, to pick its routes and handlers.
/// </summary>
public enum SagaStyle
{
    Orchestration,
    Choreography,
}

public static class SagaStyles
{
    /// <summary>The configured style; Orchestration when none is. A value that names neither stops the service.</summary>
    public static SagaStyle From(IConfiguration config) => config["Ordering:SagaStyle"] switch
    {
        null or "" => SagaStyle.Orchestration,
        var value when Enum.GetNames<SagaStyle>().FirstOrDefault(name => name.Equals(value.Trim(), StringComparison.OrdinalIgnoreCase)) is { } name
            => Enum.Parse<SagaStyle>(name),
        var value => throw new InvalidOperationException($"Ordering:SagaStyle '{value}': use {string.Join(" or ", Enum.GetNames<SagaStyle>())}."),
    };
}
