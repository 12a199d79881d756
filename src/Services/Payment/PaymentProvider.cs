namespace Mercato.Payment;

public sealed class PaymentProviderOptions
{
    /// <summary>Amounts above this are declined, so tests and demos can steer the outcome.</summary>
    public decimal DeclineAbove { get; set; } = 10_000m;
}

/// <summary>
/// A simulated payment service provider with deterministic rules: unknown method tokens and <c>tok_decline</c> are
/// declined, amounts above <see cref="PaymentProviderOptions.DeclineAbove"/> are declined, anything else is captured.
/// </summary>
public sealed class SimulatedPaymentProvider(Microsoft.Extensions.Options.IOptions<PaymentProviderOptions> options)
{
    public const string DeclineToken = "tok_decline";

    /// <summary>Method tokens this provider knows: <c>tok_</c> followed by letters, digits or underscores.</summary>
    public static string? UnknownMethodReason(string method) =>
        method.Length is > 4 and <= 64 && method.StartsWith("tok_", StringComparison.Ordinal) && method[4..].All(c => char.IsAsciiLetterOrDigit(c) || c == '_')
            ? null
            : $"Unknown payment method '{method}': use a card token such as tok_visa.";

    /// <remarks>
    /// An unknown method is declined here too: ordering accepts an order without the method check when payment cannot
    /// answer it, and the saga's capture is then where the method is checked.
    /// </remarks>
    public string? DeclineReason(decimal amount, string method) =>
        UnknownMethodReason(method) is { } unknown ? unknown
        : method == DeclineToken ? "Card declined by the issuer."
        : amount > options.Value.DeclineAbove ? $"Amount {amount} exceeds the limit of {options.Value.DeclineAbove}."
        : null;
}
