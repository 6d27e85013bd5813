using LiveUpdateFs.Interop;

namespace LiveUpdateFs.Store;

/// <summary>One preserved memfd as recorded; its bytes stay in the store until
/// <see cref="StoreDirectory.Restore"/> turns them back into a memfd.</summary>
public sealed class StoredFile
{
    internal StoredFile(ulong token, string compatible, long size, long position, int seals,
        IReadOnlyList<DataRun> runs, ulong checksum, string contentPath, long contentOffset = 0)
    {
        Token = token;
        Compatible = compatible;
        Size = size;
        Position = position;
        Seals = seals;
        Runs = runs;
        Checksum = checksum;
        ContentPath = contentPath;
        ContentOffset = contentOffset;
    }

    public ulong Token { get; }

    /// <summary>The file handler's compatible string, e.g. "memfd-v2".</summary>
    public string Compatible { get; }

    public long Size { get; }

    public long Position { get; }

    /// <summary>The F_GET_SEALS value at preservation.</summary>
    public int Seals { get; }

    /// <summary>Where the data lies in the memfd; everything else is a hole.
    /// <see cref="ContentPath"/> holds these runs back to back from <see cref="ContentOffset"/>.</summary>
    public IReadOnlyList<DataRun> Runs { get; }

    public long DataBytes => Runs.Sum(r => r.Length);

    /// <summary>XxHash3 of the runs' bytes, in order.</summary>
    internal ulong Checksum { get; }

    /// <summary>The file holding the runs' bytes: the generation's pack
    /// (a store written before the pack: this file's own data file).</summary>
    internal string ContentPath { get; }

    /// <summary>Where in <see cref="ContentPath"/> this file's bytes begin.</summary>
    internal long ContentOffset { get; }

    /// <summary>In an in-place generation: the fd holding the file; its data
    /// is not in the store (no runs, no checksum).</summary>
    public KeptDescriptor? Kept { get; internal set; }
}
