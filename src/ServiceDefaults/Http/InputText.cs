namespace Mercato.ServiceDefaults.Http;

/// <summary>
/// What free text from a client may not carry: control characters (a NUL or an escape sequence in a stored name ends up
/// in every page, log and e-mail that shows it), line breaks (U+2028 and U+2029 too) except in multi-line fields, where
/// tab is allowed as well, and the bidirectional overrides and isolates that make text display differently from what
/// it is.
/// </summary>
public static class InputText
{
    public const string Refusal = "Must not contain control characters or bidirectional overrides.";

    public static bool IsClean(string value, bool multiline = false)
    {
        foreach (var c in value)
        {
            var lineBreak = c is '\n' or '\r' or '\u2028' or '\u2029';
            if ((char.IsControl(c) && !(multiline && (c == '\t' || lineBreak))) || (lineBreak && !multiline)
                || c is >= '\u202A' and <= '\u202E' or >= '\u2066' and <= '\u2069')
            {
                return false;
            }
        }
        return true;
    }
}
