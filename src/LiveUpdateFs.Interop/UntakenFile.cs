using LiveUpdateFs.Core.Files;

namespace LiveUpdateFs.Interop;

/// <summary>A caller's file that /proc shows is no shmem file: described,
/// never taken (<see cref="ShmemCandidate"/>), so nothing is closed either.</summary>
public sealed class UntakenFile : IHeldFile
{
    public FileFacts Facts { get; } = new(FileSystemKind.Other, IsRegular: false, LinkCount: 1, default, 0);

    public void Dispose()
    {
    }
}
