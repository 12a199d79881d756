using System.Globalization;
using System.Text;

namespace Mercato.ServiceDefaults.Http;

/// <summary>
/// What free text from a client may not carry: control characters (a NUL or an escape sequence in a stored name ends up
/// in every page, log and e-mail that shows it), line breaks (U+2028 and U+2029 too) except in multi-line fields, where
/// tab is allowed as well, and invisible formatting characters: the bidirectional overrides and isolates that make text
/// display differently from what it is, zero-width spaces, word joiners, the byte-order mark and the tag characters,
/// with which "admin\u200B@…" shows exactly as "admin@…". Free text keeps what writing needs: the zero-width joiner and
/// non-joiner (emoji, several scripts), the left-to-right, right-to-left and Arabic letter marks, and the soft hyphen.
/// An identifier (<see cref="IsCleanIdentifier"/>) has no formatting character at all. Characters are read whole
/// (runes), so one outside the Basic Multilingual Plane is judged by its own category, not as two surrogates.
/// </summary>
public static class InputText
{
    public const string Refusal = "Must not contain control characters or invisible formatting characters (bidirectional overrides, zero-width spaces).";

    public const string Blank = "Must contain visible text.";

    public static bool IsClean(string value, bool multiline = false)
    {
        foreach (var rune in value.EnumerateRunes())
        {
            var lineBreak = rune.Value is '\n' or '\r' or '\u2028' or '\u2029';
            if ((Rune.IsControl(rune) && !(multiline && (rune.Value == '\t' || lineBreak))) || (lineBreak && !multiline)
                || (IsFormat(rune) && rune.Value is not (0x200C or 0x200D or 0x200E or 0x200F or 0x061C or 0x00AD)))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>What is wrong with a name (one line, shown to people): <see cref="Refusal"/>, <see cref="Blank"/>, or null.</summary>
    public static string? NameProblem(string name) => !IsClean(name) ? Refusal : !HasVisibleText(name) ? Blank : null;

    /// <summary>An e-mail address or another name that identifies something: no formatting character at all.</summary>
    public static bool IsCleanIdentifier(string value) => IsClean(value) && !value.EnumerateRunes().Any(IsFormat);

    /// <summary>
    /// A query filter naming one identifier (an event or message type): clean, at most <paramref name="maxLength"/>
    /// characters, and no comma, since a parameter given twice (type=A&amp;type=B) binds as "A,B", which names nothing and
    /// would answer an empty list. PostgreSQL refuses a NUL in a query outright (a 500).
    /// </summary>
    public static bool IsSingleIdentifier(string value, int maxLength) =>
        value.Length <= maxLength && !value.Contains(',') && IsCleanIdentifier(value) && (value.Length == 0 || HasVisibleText(value));

    /// <summary>
    /// Whether the text shows anything: a letter, digit, punctuation or symbol. A name made of spaces, marks, formatting
    /// characters or the fillers that are letters but show as blank passes a null-or-white-space check and shows nothing.
    /// </summary>
    private static bool HasVisibleText(string value) => value.EnumerateRunes().Any(rune =>
        !BlankLetters.Contains(rune.Value) && Rune.GetUnicodeCategory(rune) is
            not (UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
            or UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.NonSpacingMark
            or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark or UnicodeCategory.Surrogate
            or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned));

    /// <summary>Hangul fillers and the blank braille pattern: letters or symbols by category, drawn as nothing.</summary>
    private static readonly HashSet<int> BlankLetters = [0x115F, 0x1160, 0x3164, 0xFFA0, 0x2800];

    private static bool IsFormat(Rune rune) => Rune.GetUnicodeCategory(rune) == UnicodeCategory.Format;
}
