namespace Mercato.ServiceDefaults.Http;

/// <summary>
/// What free text from a client may not carry: control characters (a NUL or an escape sequence in a stored name ends up
/// in every page, log and e-mail that shows it), except tab and line breaks in multi-line fields, and the
/// bidirectional overrides and isolates that make text display differently from what it is.
/// </summary>
public static class InputText
{
    public const string Refusal = "Must not contain control characters or bidirectional overrides.";

    public static bool IsClean(string value, bool multiline = false)
    {
        foreach (var c in value)
        {
            if ((char.IsControl(c) && !(multiline && c is '\t' or '\n' or '\r')) || c is >= '\u202A' and <= '\u202E' or >= '\u2066' and <= '\u2069')
            {
                return false;
            }
        }
        return true;
    }
}
