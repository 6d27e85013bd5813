namespace LiveUpdateFs.Interop.Seccomp;

/// <summary>Which file an fd refers to: its file system's device and its
/// inode, as statx reports them without asking the file system
/// (AT_STATX_DONT_SYNC: a FUSE file's cached attributes, no request).</summary>
public readonly record struct DeviceInode(uint Major, uint Minor, ulong Inode)
{
    public static unsafe DeviceInode? Of(SafeFd fd)
    {
        byte* statx = stackalloc byte[256];
        return Libc.Statx(fd, "", Libc.AT_EMPTY_PATH | Libc.AT_STATX_DONT_SYNC, 0, statx) == 0 ? FromStatx(statx) : null;
    }

    /// <summary>The file behind another process's fd, through its
    /// /proc/TID/fd link, without taking it: a file the daemon never holds it
    /// never has to close (closing a file of a FUSE mount waits for that
    /// mount's server, which may never answer; docs/blocking.md).</summary>
    public static unsafe DeviceInode? OfCallerFd(int threadId, int fd)
    {
        byte* statx = stackalloc byte[256];
        return Libc.Statx(Libc.AT_FDCWD, $"/proc/{threadId}/fd/{fd}", Libc.AT_STATX_DONT_SYNC, 0, statx) == 0 ? FromStatx(statx) : null;
    }

    // struct statx: stx_ino at 32, stx_dev_major/minor at 136/140.
    private static unsafe DeviceInode FromStatx(byte* statx) =>
        new(*(uint*)(statx + 136), *(uint*)(statx + 140), *(ulong*)(statx + 32));

    public bool SameFileSystem(DeviceInode other) => Major == other.Major && Minor == other.Minor;
}
