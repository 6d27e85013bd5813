using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using LiveUpdateFs.Interop;

namespace LiveUpdateFs.Store;

/// <summary>
/// The manifest of a generation, a small little-endian binary format (no
/// reflection, so AOT-safe), sealed by an XxHash3 of everything before it:
/// <code>
/// "LUFSMAN2" u64 generation u32 sessionCount
///   session: u32 nameLength, name bytes, u32 fileCount
///     file: u64 token, u32 compatibleLength, compatible (UTF-8), i64 size,
///           i64 position, i32 seals, u32 runCount, runs (i64 offset, i64 length)*,
///           u64 checksum of the data
/// u64 XxHash3 of all bytes above
/// </code>
/// The data of every file lies in the generation's pack
/// (<see cref="StoreLayout.Pack"/>), file after file in manifest order
/// (counting across sessions), each file's runs back to back: a file's
/// offset there is the sum of the data bytes of the files before it.
/// "LUFSMAN1" (the same records, written before the pack) keeps file i's
/// data in <see cref="StoreLayout.ContentName"/>(i); it is still read, so
/// that an upgrade between a reboot and the next start loses nothing.
/// </summary>
internal static class ManifestCodec
{
    private static ReadOnlySpan<byte> Magic => "LUFSMAN2"u8;
    private static ReadOnlySpan<byte> MagicOfFilePerMemfd => "LUFSMAN1"u8;

    // Bounds that only a damaged manifest exceeds; they keep a bad length from
    // allocating gigabytes before the check fails.
    private const int MaxNameLength = 4096;
    private const int MaxCompatibleLength = 256;

    public static byte[] Encode(ulong generation, IReadOnlyList<StoredSession> sessions)
    {
        var output = new MemoryStream();
        var writer = new BinaryWriter(output); // little-endian on every platform
        writer.Write(Magic);
        writer.Write(generation);
        writer.Write(sessions.Count);
        foreach (var session in sessions)
        {
            writer.Write(session.Name.Length);
            writer.Write(session.Name.Span);
            writer.Write(session.Files.Count);
            foreach (var file in session.Files)
            {
                byte[] compatible = Encoding.UTF8.GetBytes(file.Compatible);
                writer.Write(file.Token);
                writer.Write(compatible.Length);
                writer.Write(compatible);
                writer.Write(file.Size);
                writer.Write(file.Position);
                writer.Write(file.Seals);
                writer.Write(file.Runs.Count);
                foreach (var run in file.Runs)
                {
                    writer.Write(run.Offset);
                    writer.Write(run.Length);
                }
                writer.Write(file.Checksum);
            }
        }
        writer.Flush();
        writer.Write(XxHash3.HashToUInt64(output.GetBuffer().AsSpan(0, (int)output.Length)));
        writer.Flush();
        return output.ToArray();
    }

    /// <summary>Decodes and checks a manifest; any damage throws
    /// <see cref="StoreCorruptException"/> naming <paramref name="path"/>.</summary>
    public static IReadOnlyList<StoredSession> Decode(ReadOnlySpan<byte> bytes, string path, ulong expectedGeneration)
    {
        if (bytes.Length < Magic.Length + 8 + 4 + 8)
            throw new StoreCorruptException(path, $"it is truncated ({bytes.Length} bytes)");
        var body = bytes[..^8];
        if (XxHash3.HashToUInt64(body) != BinaryPrimitives.ReadUInt64LittleEndian(bytes[^8..]))
            throw new StoreCorruptException(path, "its checksum does not match its contents");
        var reader = new Reader(body, path);
        var magic = reader.Bytes(Magic.Length);
        bool packed = magic.SequenceEqual(Magic);
        if (!packed && !magic.SequenceEqual(MagicOfFilePerMemfd))
            throw new StoreCorruptException(path, "it is not a LiveUpdateFs manifest (bad magic)");
        ulong generation = reader.U64();
        if (generation != expectedGeneration)
            throw new StoreCorruptException(path, $"it records generation {generation}, its directory says {expectedGeneration}");
        string directory = Path.GetDirectoryName(path)!;
        string pack = Path.Combine(directory, StoreLayout.Pack);
        int ordinal = 0;
        long offset = 0;
        var sessions = new List<StoredSession>();
        for (int s = reader.Count(); s > 0; s--)
        {
            byte[] name = reader.Bytes(reader.Length(MaxNameLength)).ToArray();
            var files = new List<StoredFile>();
            for (int f = reader.Count(); f > 0; f--)
            {
                StoredFile file = packed
                    ? ReadFile(ref reader, pack, offset)
                    : ReadFile(ref reader, Path.Combine(directory, StoreLayout.ContentName(ordinal++)), 0);
                offset += file.DataBytes;
                files.Add(file);
            }
            sessions.Add(new StoredSession(name, files));
        }
        if (!reader.AtEnd)
            throw new StoreCorruptException(path, "it has trailing bytes");
        return sessions;
    }

    private static StoredFile ReadFile(ref Reader reader, string contentPath, long contentOffset)
    {
        ulong token = reader.U64();
        string compatible = Encoding.UTF8.GetString(reader.Bytes(reader.Length(MaxCompatibleLength)));
        long size = reader.NonNegative();
        long position = reader.NonNegative();
        int seals = (int)reader.U32();
        var runs = new List<DataRun>();
        long end = 0;
        for (int r = reader.Count(); r > 0; r--)
        {
            var run = new DataRun(reader.NonNegative(), reader.NonNegative());
            // Runs are ordered, disjoint, non-empty and inside the file: what
            // restoring relies on to write each byte exactly once.
            if (run.Offset < end || run.Length == 0 || run.Length > size - run.Offset)
                reader.Fail("a data run lies outside its file or out of order");
            runs.Add(run);
            end = run.End;
        }
        return new StoredFile(token, compatible, size, position, seals, runs, reader.U64(), contentPath, contentOffset);
    }

    /// <summary>A bounds-checked cursor; running off the end means damage.</summary>
    private ref struct Reader(ReadOnlySpan<byte> data, string path)
    {
        private ReadOnlySpan<byte> _rest = data;

        public readonly bool AtEnd => _rest.IsEmpty;

        public ReadOnlySpan<byte> Bytes(int count)
        {
            if (count > _rest.Length)
                Fail("it ends in the middle of a record");
            var result = _rest[..count];
            _rest = _rest[count..];
            return result;
        }

        public ulong U64() => BinaryPrimitives.ReadUInt64LittleEndian(Bytes(8));

        public uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Bytes(4));

        public long NonNegative()
        {
            long value = (long)U64();
            if (value < 0)
                Fail("a size or offset is negative");
            return value;
        }

        /// <summary>A record count; each record takes at least 4 bytes, so a
        /// larger count than that cannot be honest.</summary>
        public int Count()
        {
            uint count = U32();
            if (count > _rest.Length / 4)
                Fail("a record count exceeds the manifest");
            return (int)count;
        }

        public int Length(int max)
        {
            uint length = U32();
            if (length > max)
                Fail($"a length of {length} exceeds the limit {max}");
            return (int)length;
        }

        public readonly void Fail(string problem) => throw new StoreCorruptException(path, problem);
    }
}
