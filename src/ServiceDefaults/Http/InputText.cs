using System.Globalization;

namespace Mercato.ServiceDefaults.Http;

/// <summary>
/// What free text from a client may not carry: control characters (a NUL or an escape sequence in a stored name ends up
/// in every page, log and e-mail that shows it), line breaks (U+2028 and U+2029 too) except in multi-line fields, where
/// tab is allowed as well, and invisible formatting characters: the bidirectional overrides and isolates that make text
/// display differently from what it is, and zero-width spaces, joiners at word edges and soft hyphens, with which
/// "admin\u200B@…" shows exactly as "admin@…". Only the two joiners scripts and emoji need inside text (U+200C, U+200D)
/// are allowed, and never in an identifier (<see cref="IsCleanIdentifier"/>).
/// </summary>
public static class InputText
{
    public const string Refusal = "Must not contain control characters or invisible formatting characters (bidirectional overrides, zero-width spaces).";

    public const string Blank = "Must contain visible text.";

    public static bool IsClean(string value, bool multiline = false)
    {
        foreach (var c in value)
        {
            var lineBreak = c is '\n' or '\r' or '\u2028' or '\u2029';
            if ((char.IsControl(c) && !(multiline && (c == '\t' || lineBreak))) || (lineBreak && !multiline)
                || (IsFormat(c) && c is not ('\u200C' or '\u200D')))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>An e-mail address or another name that identifies something: no formatting character at all.</summary>
    public static bool IsCleanIdentifier(string value) => IsClean(value) && !value.Any(IsFormat);

    /// <summary>
    /// Whether the text shows anything: a letter, digit, punctuation or symbol. A name made of spaces, marks or
    /// formatting characters passes a null-or-white-space check and shows as nothing.
    /// </summary>
    public static bool HasVisibleText(string value) => value.Any(c => char.GetUnicodeCategory(c) is
        not (UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
        or UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.NonSpacingMark
        or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark));

    private static bool IsFormat(char c) => char.GetUnicodeCategory(c) == UnicodeCategory.Format;
}
