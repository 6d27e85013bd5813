using System.Buffers.Binary;
using System.IO.Hashing;

namespace LiveUpdateFs.Store;

/// <summary>
/// STORE/gen-X/kept, beside the manifest of an in-place generation:
/// <code>
/// "LUFSKEPT" u64 key u32 count, then per file of the manifest, in order:
///   i32 fd, u64 device, u64 inode
/// u64 XxHash3 of all bytes above
/// </code>
/// The key is random per generation and is handed to the next instance
/// through its environment: an instance started any other way (a restart
/// after a crash) does not hold the fds and knows it.
/// </summary>
internal static class KeptCodec
{
    private static ReadOnlySpan<byte> Magic => "LUFSKEPT"u8;
    private const int RecordSize = 4 + 8 + 8;

    public static byte[] Encode(ulong key, IReadOnlyList<KeptDescriptor> files)
    {
        byte[] bytes = new byte[Magic.Length + 8 + 4 + files.Count * RecordSize + 8];
        Span<byte> at = bytes;
        Magic.CopyTo(at);
        at = at[Magic.Length..];
        BinaryPrimitives.WriteUInt64LittleEndian(at, key);
        BinaryPrimitives.WriteInt32LittleEndian(at[8..], files.Count);
        at = at[12..];
        foreach (KeptDescriptor file in files)
        {
            BinaryPrimitives.WriteInt32LittleEndian(at, file.Fd);
            BinaryPrimitives.WriteUInt64LittleEndian(at[4..], file.Device);
            BinaryPrimitives.WriteUInt64LittleEndian(at[12..], file.Inode);
            at = at[RecordSize..];
        }
        BinaryPrimitives.WriteUInt64LittleEndian(at, XxHash3.HashToUInt64(bytes.AsSpan(0, bytes.Length - 8)));
        return bytes;
    }

    /// <summary>Any damage, or a count other than <paramref name="expectedFiles"/>,
    /// throws <see cref="StoreCorruptException"/> naming <paramref name="path"/>.</summary>
    public static (ulong Key, KeptDescriptor[] Files) Decode(ReadOnlySpan<byte> bytes, string path, int expectedFiles)
    {
        int header = Magic.Length + 12;
        if (bytes.Length < header + 8 || !bytes.StartsWith(Magic))
            throw new StoreCorruptException(path, "it is not a LiveUpdateFs kept-file list");
        if (XxHash3.HashToUInt64(bytes[..^8]) != BinaryPrimitives.ReadUInt64LittleEndian(bytes[^8..]))
            throw new StoreCorruptException(path, "its checksum does not match its contents");
        ulong key = BinaryPrimitives.ReadUInt64LittleEndian(bytes[Magic.Length..]);
        int count = BinaryPrimitives.ReadInt32LittleEndian(bytes[(Magic.Length + 8)..]);
        if (count != expectedFiles || bytes.Length != header + count * RecordSize + 8)
            throw new StoreCorruptException(path, $"it lists {count} files, the manifest {expectedFiles}");
        var files = new KeptDescriptor[count];
        ReadOnlySpan<byte> at = bytes[header..];
        for (int i = 0; i < count; i++, at = at[RecordSize..])
            files[i] = new KeptDescriptor(BinaryPrimitives.ReadInt32LittleEndian(at),
                BinaryPrimitives.ReadUInt64LittleEndian(at[4..]), BinaryPrimitives.ReadUInt64LittleEndian(at[12..]));
        return (key, files);
    }
}
