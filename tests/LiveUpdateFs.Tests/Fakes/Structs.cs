using System.Buffers.Binary;
using System.Text;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Tests.Fakes;

/// <summary>Builds the caller's uAPI structs (docs/behaviour.md §1.2) as raw bytes.
/// <paramref name="size"/> is both the size field and the buffer length.</summary>
public static class Structs
{
    public const int SessionSize = 72;
    public const int FileSize = 16;
    public const int FinishSize = 8;
    public const int GetNameSize = 72;

    private const uint MaxBuffer = 1 << 20;

    /// <summary>create_session / retrieve_session: size, fd, name[64].</summary>
    public static byte[] Session(string name, uint size = SessionSize, int fd = -1) => Session(NameField(name), size, fd);

    public static byte[] Session(ReadOnlySpan<byte> nameBytes, uint size = SessionSize, int fd = -1)
    {
        byte[] s = Sized(size, SessionSize);
        BinaryPrimitives.WriteInt32LittleEndian(s.AsSpan(4), fd);
        nameBytes.CopyTo(s.AsSpan(LuoStructs.SessionNameOffset, LuoRequest.SessionNameLength));
        return s;
    }

    /// <summary>A 64-byte name field: the UTF-8 name, then zeros.</summary>
    public static byte[] NameField(string name)
    {
        byte[] field = new byte[LuoRequest.SessionNameLength];
        Encoding.UTF8.GetBytes(name).CopyTo(field, 0);
        return field;
    }

    /// <summary>preserve_fd / retrieve_fd: size, fd, token.</summary>
    public static byte[] File(int fd, ulong token, uint size = FileSize)
    {
        byte[] s = Sized(size, FileSize);
        BinaryPrimitives.WriteInt32LittleEndian(s.AsSpan(4), fd);
        BinaryPrimitives.WriteUInt64LittleEndian(s.AsSpan(8), token);
        return s;
    }

    public static byte[] Finish(uint reserved = 0, uint size = FinishSize)
    {
        byte[] s = Sized(size, FinishSize);
        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(4), reserved);
        return s;
    }

    public static byte[] GetName(uint reserved = 0, uint size = GetNameSize)
    {
        byte[] s = Sized(size, GetNameSize);
        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(4), reserved);
        return s;
    }

    /// <summary>A zeroed buffer whose size field says <paramref name="size"/>: max(size,
    /// minimum) bytes long, or just <paramref name="minimum"/> for sizes too big to
    /// allocate (map their tail separately).</summary>
    public static byte[] Sized(uint size, int minimum = 4)
    {
        byte[] s = new byte[size > MaxBuffer ? minimum : Math.Max((int)size, minimum)];
        BinaryPrimitives.WriteUInt32LittleEndian(s, size);
        return s;
    }

    public static int ReadInt32(byte[] s, int offset) => BinaryPrimitives.ReadInt32LittleEndian(s.AsSpan(offset));

    /// <summary>The NUL-terminated name at <paramref name="offset"/>, as text.</summary>
    public static string ReadName(byte[] s, int offset = LuoStructs.SessionNameOffset)
    {
        ReadOnlySpan<byte> field = s.AsSpan(offset, Math.Min(LuoRequest.SessionNameLength, s.Length - offset));
        int nul = field.IndexOf((byte)0);
        return Encoding.UTF8.GetString(nul < 0 ? field : field[..nul]);
    }
}
