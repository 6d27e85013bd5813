namespace LiveUpdateFs.Interop;

/// <summary>What /proc/TID/fdinfo/FD says of another process's fd, read
/// without asking any file system: its open flags, mount id and inode (null
/// on kernels whose fdinfo has no "ino:" line).</summary>
public readonly record struct FdInfo(int Flags, int MountId, ulong? Inode)
{
    private const int OPath = 0x200000;

    /// <summary>The fd's entry, or null when it is not open (or the thread is gone).</summary>
    public static FdInfo? Of(int threadId, int fd)
    {
        if (fd < 0 || ProcFs.ReadText($"/proc/{threadId}/fdinfo/{fd}") is not { } info
            || ProcFs.FieldOf(info, "flags:") is not { } flags || !int.TryParse(ProcFs.FieldOf(info, "mnt_id:"), out int mountId))
            return null;
        return new FdInfo(Convert.ToInt32(flags, 8), mountId, ulong.TryParse(ProcFs.FieldOf(info, "ino:"), out ulong inode) ? inode : null);
    }

    /// <summary>An O_PATH fd: the kernel's fget() refuses it (EBADF).</summary>
    public bool IsPathOnly => (Flags & OPath) != 0;
}
