using LiveUpdateFs.Interop;

namespace LiveUpdateFs.Store;

/// <summary>What the last committed generation holds: the state a new "boot"
/// starts from. Sessions and files keep the order they were added in.</summary>
public sealed class BootImage
{
    public static readonly BootImage Empty = new(0, []);

    internal BootImage(ulong generation, IReadOnlyList<StoredSession> sessions, ulong? keptKey = null)
    {
        Generation = generation;
        Sessions = sessions;
        KeptKey = keptKey;
    }

    /// <summary>A generation that was already handed over to a boot (its
    /// <see cref="ConsumedMarker"/>): it offers nothing, and none of its
    /// files (manifest, kept list, data) is read.</summary>
    internal static BootImage ConsumedGeneration(ulong generation) => new(generation, []) { Consumed = true };

    /// <summary>The generation was handed over at an earlier boot's first open
    /// of the device (<see cref="StoreDirectory.MarkConsumed"/>); that boot
    /// ended without a reboot (a crash), so this one starts cold.
    /// <see cref="Sessions"/> is then empty.</summary>
    public bool Consumed { get; private init; }

    /// <summary>Set for an in-place generation: its files are fds the previous
    /// instance kept open across its exec (<see cref="StoredFile.Kept"/>), and
    /// only the instance it started with this key holds them.</summary>
    public ulong? KeptKey { get; }

    /// <summary>The committed generation number; 0 when nothing was ever committed.</summary>
    public ulong Generation { get; }

    public IReadOnlyList<StoredSession> Sessions { get; }
}

/// <summary>One preserved session. The name is arbitrary bytes and lives only
/// in the manifest, never in a path.</summary>
public sealed class StoredSession(ReadOnlyMemory<byte> name, IReadOnlyList<StoredFile> files)
{
    public ReadOnlyMemory<byte> Name { get; } = name;

    public IReadOnlyList<StoredFile> Files { get; } = files;
}

/// <summary>One preserved memfd as recorded; its bytes stay in the store until
/// <see cref="StoreDirectory.Restore"/> turns them back into a memfd.</summary>
public sealed class StoredFile
{
    internal StoredFile(ulong token, string compatible, long size, long position, int seals,
        IReadOnlyList<DataRun> runs, ulong checksum, string contentPath)
    {
        Token = token;
        Compatible = compatible;
        Size = size;
        Position = position;
        Seals = seals;
        Runs = runs;
        Checksum = checksum;
        ContentPath = contentPath;
    }

    public ulong Token { get; }

    /// <summary>The file handler's compatible string, e.g. "memfd-v2".</summary>
    public string Compatible { get; }

    public long Size { get; }

    public long Position { get; }

    /// <summary>The F_GET_SEALS value at preservation.</summary>
    public int Seals { get; }

    /// <summary>Where the data lies in the memfd; everything else is a hole.
    /// The content file holds these runs back to back.</summary>
    public IReadOnlyList<DataRun> Runs { get; }

    public long DataBytes => Runs.Sum(r => r.Length);

    /// <summary>XxHash3 of the runs' bytes, in order.</summary>
    internal ulong Checksum { get; }

    internal string ContentPath { get; }

    /// <summary>In an in-place generation: the fd holding the file; its data
    /// is not in the store (no runs, no checksum).</summary>
    public KeptDescriptor? Kept { get; internal set; }
}
