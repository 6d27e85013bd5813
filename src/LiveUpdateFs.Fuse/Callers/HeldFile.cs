using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Fuse.Callers;

/// <summary>The daemon's own reference to a caller's open file description,
/// or to a memfd the daemon made itself (one the store restored).</summary>
/// <param name="closer">Closes it without waiting on anyone; null: a file the daemon made itself (closed in place).</param>
public sealed class HeldFile(SafeFd fd, FileFacts facts, TakenFiles? closer = null) : IHeldFile
{
    public SafeFd Fd { get; } = fd;
    public FileFacts Facts { get; } = facts;

    /// <summary>The facts of <paramref name="fd"/>, asked without any I/O a
    /// caller could stall (<see cref="ShmemProbe"/>): a file that is no shmem
    /// file is "not a memfd" without being touched.</summary>
    public static Errno Describe(SafeFd fd, out FileFacts facts)
    {
        facts = default;
        Errno probed = ShmemProbe.Of(fd, out ShmemFacts? shmem);
        if (probed.IsError)
            return probed;
        if (shmem is not { } found)
        {
            facts = UntakenFile.NotShmem;
            return Errno.None;
        }
        FileSystemKind fs = found.FileSystemType switch
        {
            ShmemFacts.TmpfsMagic => FileSystemKind.Tmpfs,
            ShmemFacts.HugetlbfsMagic => FileSystemKind.Hugetlbfs,
            _ => FileSystemKind.Other,
        };
        facts = new FileFacts(fs, found.IsRegular, found.LinkCount, new FileIdentity(found.Device, found.Inode), found.Size, found.Seals);
        return Errno.None;
    }

    public void Dispose()
    {
        if (closer is null)
            Fd.Dispose();
        else
            closer.Close(Fd, Facts.FileSystem != FileSystemKind.Other);
    }
}
