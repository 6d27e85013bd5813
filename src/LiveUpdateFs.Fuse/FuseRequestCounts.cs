using LiveUpdateFs.Fuse.Status;

namespace LiveUpdateFs.Fuse;

/// <summary>
/// How many requests of each operation the daemon has answered in this boot
/// (status.json "fuseRequests"): what programs cost in round trips, e.g. a
/// CREATE_SESSION + close under the preload library costs an ioctl, an open
/// and a release (src/native/lufs-envelope.h). A request counts once when it
/// arrives, also when it is held and answered later; the daemon's own
/// wake-ups of its serving thread do not count. Serving thread only
/// (status.json is rendered there too).
/// </summary>
public sealed class FuseRequestCounts
{
    private readonly long[] _counts = new long[Enum.GetValues<FuseOperation>().Length];

    public void Count(FuseOperation operation) => _counts[(int)operation]++;

    public StatusRequests Snapshot() => new(
        Lookup: _counts[(int)FuseOperation.Lookup],
        Getattr: _counts[(int)FuseOperation.Getattr],
        Setattr: _counts[(int)FuseOperation.Setattr],
        Open: _counts[(int)FuseOperation.Open],
        Read: _counts[(int)FuseOperation.Read],
        Write: _counts[(int)FuseOperation.Write],
        Flush: _counts[(int)FuseOperation.Flush],
        Release: _counts[(int)FuseOperation.Release],
        Readdir: _counts[(int)FuseOperation.Readdir],
        Ioctl: _counts[(int)FuseOperation.Ioctl]);
}
