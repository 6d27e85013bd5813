using System.Buffers.Binary;

namespace LiveUpdateFs.Uapi;

/// <summary>Field accessors over the kernel copy of each uAPI struct (spec §1.2).</summary>
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
}
