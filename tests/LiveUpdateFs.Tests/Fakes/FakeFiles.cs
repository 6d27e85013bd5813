using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Tests.Fakes;

/// <summary>One reference to an open file description; remembers whether it was dropped.</summary>
public sealed class FakeHeldFile(FileFacts facts, List<FakeHeldFile>? disposals = null) : IHeldFile
{
    public FileFacts Facts { get; } = facts;

    public bool Disposed { get; private set; }

    public void Dispose()
    {
        if (Disposed)
            throw new InvalidOperationException("reference dropped twice");
        Disposed = true;
        disposals?.Add(this);
    }
}

/// <summary>
/// The caller's fd table: each fd names a file. Every <see cref="Take"/> is a
/// new reference (like fget), so tests can check that each one is dropped.
/// </summary>
public sealed class FakeCallerFiles : ICallerFiles
{
    private readonly Dictionary<int, FileFacts> _fds = [];
    private int _nextFd = 3;

    /// <summary>Every reference handed out, in order.</summary>
    public List<FakeHeldFile> Taken { get; } = [];

    /// <summary>References in the order they were dropped.</summary>
    public List<FakeHeldFile> Disposals { get; } = [];

    public IEnumerable<FakeHeldFile> Live => Taken.Where(f => !f.Disposed);

    public int Open(FileFacts facts)
    {
        int fd = _nextFd++;
        _fds.Add(fd, facts);
        return fd;
    }

    public Errno Take(int fd, out IHeldFile? file)
    {
        file = null;
        if (!_fds.TryGetValue(fd, out FileFacts facts))
            return Errno.EBADF;
        var held = new FakeHeldFile(facts, Disposals);
        Taken.Add(held);
        file = held;
        return Errno.None;
    }
}

/// <summary>Typical files, as fstat/fstatfs would describe them.</summary>
public static class Facts
{
    public static FileFacts Memfd(ulong inode, long size = 4096) =>
        new(FileSystemKind.Tmpfs, IsRegular: true, LinkCount: 0, new FileIdentity(1, inode), size);

    public static FileFacts LinkedTmpfs(ulong inode) => Memfd(inode) with { LinkCount = 1 };

    public static FileFacts HugetlbMemfd(ulong inode) => Memfd(inode) with { FileSystem = FileSystemKind.Hugetlbfs };

    /// <summary>An unlinked regular file on a disk filesystem: only the filesystem disqualifies it.</summary>
    public static FileFacts UnlinkedDiskFile(ulong inode) => Memfd(inode) with { FileSystem = FileSystemKind.Other };

    public static FileFacts Pipe(ulong inode) =>
        new(FileSystemKind.Other, IsRegular: false, LinkCount: 1, new FileIdentity(2, inode), 0);
}
