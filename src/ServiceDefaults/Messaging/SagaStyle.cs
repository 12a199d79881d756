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
    public static SagaStyle From(IConfiguration config) =>
        Enum.TryParse<SagaStyle>(config["Ordering:SagaStyle"], ignoreCase: true, out var style) ? style : SagaStyle.Orchestration;
}
