using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace LiveUpdateFs.Uapi;

/// <summary>Field accessors over the kernel copy of each uAPI struct (docs/behaviour.md §1.2).</summary>
public static class LuoStructs
{
    // Shared by create_session and retrieve_session: size @0, fd @4, name @8.
    public const int SessionFdOffset = 4;
    public const int SessionNameOffset = 8;

    // Shared by preserve_fd and retrieve_fd: size @0, fd @4, token @8.
    public const int FileFdOffset = 4;
    public const int FileTokenOffset = 8;

    // finish: size @0, reserved @4. get_name: size @0, reserved @4, name @8.
    public const int ReservedOffset = 4;
    public const int GetNameNameOffset = 8;

    public static int ReadFd(ReadOnlySpan<byte> s, int offset = 4) => BinaryPrimitives.ReadInt32LittleEndian(s[offset..]);

    public static void WriteFd(Span<byte> s, int fd, int offset = 4) => BinaryPrimitives.WriteInt32LittleEndian(s[offset..], fd);

    public static ulong ReadToken(ReadOnlySpan<byte> s) => BinaryPrimitives.ReadUInt64LittleEndian(s[FileTokenOffset..]);

    public static uint ReadReserved(ReadOnlySpan<byte> s) => BinaryPrimitives.ReadUInt32LittleEndian(s[ReservedOffset..]);

    /// <summary>The 64-byte name field of create/retrieve_session.</summary>
    public static ReadOnlySpan<byte> NameField(ReadOnlySpan<byte> s) => s.Slice(SessionNameOffset, LuoRequest.SessionNameLength);

    /// <summary>For logs: printable ASCII as is, every other byte (and the backslash) as \xNN.</summary>
    public static string Escape(ReadOnlySpan<byte> bytes)
    {
        var text = new StringBuilder(bytes.Length);
        foreach (byte b in bytes)
        {
            if (b is >= 0x20 and < 0x7f && b != (byte)'\\')
                text.Append((char)b);
            else
                text.Append(CultureInfo.InvariantCulture, $"\\x{b:x2}");
        }
        return text.ToString();
    }

    /// <summary>The decoded struct of a request, field by field, for the debug
    /// trace (like umockdev's ioctl log): e.g. <c>{size=24, fd=-1, token=0x7}</c>.</summary>
    public static string Describe(DecodedRequest request)
    {
        ReadOnlySpan<byte> s = request.Struct;
        string size = $"size={request.UserSize}";
        return request.Command.Request switch
        {
            LuoRequest.CreateSession or LuoRequest.RetrieveSession => $"{{{size}, fd={ReadFd(s)}, name={Name(NameField(s))}}}",
            LuoRequest.PreserveFd or LuoRequest.RetrieveFd => $"{{{size}, fd={ReadFd(s)}, token=0x{ReadToken(s):x}}}",
            LuoRequest.Finish => $"{{{size}, reserved={ReadReserved(s)}}}",
            LuoRequest.GetName => $"{{{size}, reserved={ReadReserved(s)}, name={Name(s.Slice(GetNameNameOffset, Math.Min(LuoRequest.SessionNameLength, s.Length - GetNameNameOffset)))}}}",
            _ => $"{{{size}}}",
        };
    }

    private static string Name(ReadOnlySpan<byte> field)
    {
        int nul = field.IndexOf((byte)0);
        return nul < 0 ? $"\"{Escape(field)}\" (no NUL)" : $"\"{Escape(field[..nul])}\"";
    }
}
