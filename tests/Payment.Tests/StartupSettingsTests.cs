using Mercato.Testing;

namespace Mercato.Payment.Tests;

public sealed class StartupSettingsTests
{
    /// <summary>An unreadable decline threshold started a payment service whose every capture was dead-lettered.</summary>
    [Fact]
    public async Task An_unreadable_decline_threshold_stops_the_start_naming_the_setting()
    {
        await using var payment = new ConfiguredServiceFactory<Program>(("Payment:DeclineAbove", "ten thousand"));
        StartupAssert.RefusesToStart(payment, "Payment:DeclineAbove");
    }
}
