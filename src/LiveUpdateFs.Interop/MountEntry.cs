using System.Globalization;
using System.Text;

namespace LiveUpdateFs.Interop;

/// <summary>One line of /proc/PID/mountinfo:
/// "ID PARENT MAJ:MIN ROOT POINT OPTS [TAGS...] - FSTYPE SOURCE SUPER".</summary>
/// <param name="Device">"MAJ:MIN"; for FUSE, the connection, the same in every copy of the mount.</param>
/// <param name="Point">Where it is mounted, unescaped.</param>
/// <param name="SuperOptions">The file system's options (for FUSE: user_id=, group_id=, ...).</param>
public sealed record MountEntry(int Id, string Device, string Point, string FsType, string SuperOptions)
{
    /// <summary>A FUSE mount's user_id= (the uid of whoever mounted it; fusermount3 sets the caller's), or null.</summary>
    public uint? FuseOwner =>
        SuperOptions.Split(',').FirstOrDefault(o => o.StartsWith("user_id=", StringComparison.Ordinal)) is { } option
            && uint.TryParse(option.AsSpan("user_id=".Length), NumberStyles.None, CultureInfo.InvariantCulture, out uint uid) ? uid : null;

    /// <summary>The entry of one mountinfo line, or null when it does not have that shape.</summary>
    public static MountEntry? Parse(string line)
    {
        string[] fields = line.Split(' ');
        int separator = fields.Length > 6 ? Array.IndexOf(fields, "-", 6) : -1;
        if (separator < 0 || separator + 3 >= fields.Length || !int.TryParse(fields[0], CultureInfo.InvariantCulture, out int id))
            return null;
        return new MountEntry(id, fields[2], Unescape(fields[4]), fields[separator + 1], fields[separator + 3]);
    }

    /// <summary>The kernel writes space, tab, newline and backslash in a path as \ooo (octal).</summary>
    private static string Unescape(string field)
    {
        if (!field.Contains('\\'))
            return field;
        var text = new StringBuilder(field.Length);
        for (int i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length && IsOctal(field.AsSpan(i + 1, 3)))
            {
                text.Append((char)Convert.ToInt32(field.Substring(i + 1, 3), 8));
                i += 3;
            }
            else
                text.Append(field[i]);
        }
        return text.ToString();
    }

    private static bool IsOctal(ReadOnlySpan<char> digits) => !digits.ContainsAnyExcept("01234567");
}
