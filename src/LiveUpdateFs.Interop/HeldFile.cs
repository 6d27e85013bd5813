using LiveUpdateFs.Core.Files;

namespace LiveUpdateFs.Interop;

/// <summary>The daemon's own reference to a caller's open file description.</summary>
public sealed class HeldFile(SafeFd fd, FileFacts facts) : IHeldFile
{
    public SafeFd Fd { get; } = fd;
    public FileFacts Facts { get; } = facts;

    /// <summary>A shmem file closes without waiting on anyone; any other file
    /// (one of some FUSE mount, a socket with linger) is closed off the
    /// request thread (<see cref="DeferredClose"/>).</summary>
    public void Dispose()
    {
        if (Facts.FileSystem is FileSystemKind.Tmpfs or FileSystemKind.Hugetlbfs)
            Fd.Dispose();
        else
            DeferredClose.Close(Fd);
    }
}
