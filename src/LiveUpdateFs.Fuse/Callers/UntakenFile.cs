using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Interop;

namespace LiveUpdateFs.Fuse.Callers;

/// <summary>A caller's file that /proc shows is no shmem file: described,
/// never taken (<see cref="ShmemCandidate"/>), so nothing is closed either.</summary>
public sealed class UntakenFile : IHeldFile
{
    /// <summary>What LUO knows of a file that is no shmem file: no memfd handler takes it.</summary>
    public static readonly FileFacts NotShmem = new(FileSystemKind.Other, IsRegular: false, LinkCount: 1, default, 0);

    public FileFacts Facts => NotShmem;

    public void Dispose()
    {
    }
}
