using System.Text;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Core.Sessions;

/// <summary>
/// A session name: the bytes before the first NUL of the 64-byte name field,
/// at most 63 of them. Compared byte for byte, as the kernel's strncmp does.
/// A name is only ever a name: never a path, never a format string.
/// </summary>
public sealed class SessionName : IEquatable<SessionName>
{
    public const int MaxLength = LuoRequest.SessionNameLength - 1;

    private readonly byte[] _bytes;

    private SessionName(byte[] bytes) => _bytes = bytes;

    public ReadOnlySpan<byte> Bytes => _bytes;

    /// <summary>strnlen(field, 64): 64 means there is no terminating NUL.</summary>
    public static int TerminatedLength(ReadOnlySpan<byte> field)
    {
        int nul = field.IndexOf((byte)0);
        return nul < 0 ? field.Length : nul;
    }

    /// <summary>The name in a 64-byte field, or null when the field holds no
    /// NUL-terminated name (the caller decides what that means).</summary>
    public static SessionName? FromField(ReadOnlySpan<byte> field)
    {
        int length = TerminatedLength(field);
        return length >= field.Length ? null : new SessionName(field[..length].ToArray());
    }

    public static SessionName FromString(string name)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(name);
        if (bytes.Length is 0 or > MaxLength || bytes.Contains((byte)0))
            throw new ArgumentException($"a session name is 1..{MaxLength} bytes without NUL", nameof(name));
        return new SessionName(bytes);
    }

    /// <summary>strscpy into a 64-byte field: the name and one NUL; the bytes
    /// after it are left as they were.</summary>
    public void CopyTo(Span<byte> field)
    {
        _bytes.CopyTo(field);
        field[_bytes.Length] = 0;
    }

    public bool Equals(SessionName? other) => other is not null && _bytes.AsSpan().SequenceEqual(other._bytes);

    public override bool Equals(object? obj) => Equals(obj as SessionName);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(_bytes);
        return hash.ToHashCode();
    }

    /// <summary>For logs and status: printable ASCII as is, every other byte as \xNN.</summary>
    public override string ToString() => LuoStructs.Escape(_bytes);
}
