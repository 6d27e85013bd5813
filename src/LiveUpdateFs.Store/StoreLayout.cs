using System.Globalization;

namespace LiveUpdateFs.Store;

/// <summary>
/// The names inside a store directory. Every name is fixed or derived from a
/// generation number or a file ordinal, never from session data:
/// <code>
/// STORE/current              commit pointer: "gen-XXXXXXXXXXXXXXXX\n"
/// STORE/current.tmp          the next pointer, before its atomic rename
/// STORE/gen-XXXXXXXXXXXXXXXX/manifest
/// STORE/gen-XXXXXXXXXXXXXXXX/data     every memfd's data runs, packed one after the other
/// STORE/gen-XXXXXXXXXXXXXXXX/data-000000 ...  the same, one file per memfd (stores written before the pack)
/// STORE/gen-XXXXXXXXXXXXXXXX/kept     an in-place generation's fds instead of data
/// STORE/gen-XXXXXXXXXXXXXXXX/consumed the generation was handed over (see <see cref="ConsumedMarker"/>)
/// STORE/gen-XXXXXXXXXXXXXXXX/consumed.tmp  that mark, before its atomic rename
/// </code>
/// Other files (the host's "lock") are left alone.
/// </summary>
internal static class StoreLayout
{
    public const string Pointer = "current";
    public const string PointerTemp = "current.tmp";
    public const string Manifest = "manifest";
    public const string Kept = "kept";
    public const string Pack = "data";
    public const string Consumed = "consumed";
    public const string ConsumedTemp = "consumed.tmp";
    private const string GenerationPrefix = "gen-";

    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public static string GenerationName(ulong generation) => GenerationPrefix + generation.ToString("x16", CultureInfo.InvariantCulture);

    public static bool TryParseGeneration(string name, out ulong generation)
    {
        generation = 0;
        return name.Length == GenerationPrefix.Length + 16
            && name.StartsWith(GenerationPrefix, StringComparison.Ordinal)
            && name.AsSpan(GenerationPrefix.Length).IndexOfAnyExcept("0123456789abcdef") < 0
            && ulong.TryParse(name.AsSpan(GenerationPrefix.Length), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out generation)
            && generation != 0;
    }

    /// <summary>The data file of file <paramref name="ordinal"/> in a
    /// generation written before the pack (manifest "LUFSMAN1").</summary>
    public static string ContentName(int ordinal) => "data-" + ordinal.ToString("D6", CultureInfo.InvariantCulture);
}
