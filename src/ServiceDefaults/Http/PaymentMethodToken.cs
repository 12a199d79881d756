using System.Text.RegularExpressions;

namespace Mercato.ServiceDefaults.Http;

/// <summary>
/// The shape of a payment method token (payment decides which exist). It travels in payment's URL path, so "." or ".."
/// would leave the method check's route and a control character would not reach it; basket keeps it with a checkout.
/// </summary>
public static partial class PaymentMethodToken
{
    public const int MaxLength = 64;

    public const string Rule = "A payment method token: 1 to 64 letters, digits, '_' or '-'.";

    /// <summary>Null, blank (the default method) or a well-formed token, after trimming.</summary>
    public static bool IsAcceptable(string? value) => string.IsNullOrWhiteSpace(value) || Pattern().IsMatch(value.Trim());

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}\\z")]
    private static partial Regex Pattern();
}
