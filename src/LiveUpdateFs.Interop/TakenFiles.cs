namespace LiveUpdateFs.Interop;

/// <summary>
/// Closes the files the daemon took from callers without waiting on anyone
/// (docs/blocking.md). In place: shmem files, and files of this daemon's own
/// mount (opened FOPEN_NOFLUSH: their close sends nothing and their release
/// is queued, not waited for; closing them at once keeps the order the
/// README promises, e.g. a session file a caller passed to PRESERVE_FD is
/// not kept alive past the request). Any other file goes to
/// <see cref="DeferredClose"/>. The mount is recognised by the device of
/// the file's superblock, asked with AT_STATX_DONT_SYNC, which answers
/// from the inode without a request to any FUSE server.
/// </summary>
/// <param name="mountpoint">This daemon's mount; null: no file counts as its own.</param>
public sealed unsafe class TakenFiles(string? mountpoint)
{
    private string? _ownDevice;

    /// <summary>Closes <paramref name="fd"/>; <paramref name="shmem"/>: it is a shmem or hugetlbfs file.</summary>
    public void Close(SafeFd fd, bool shmem)
    {
        if (shmem || IsOnOwnMount(fd))
            fd.Dispose();
        else
            DeferredClose.Close(fd);
    }

    private bool IsOnOwnMount(SafeFd fd)
    {
        // Read once the mount exists (this runs while it serves); mountinfo, not a stat of the mountpoint.
        _ownDevice ??= mountpoint is null ? "" : MountTable.DeviceOf(mountpoint.TrimEnd('/')) ?? "";
        if (_ownDevice.Length == 0)
            return false;
        byte* statx = stackalloc byte[256];
        if (Libc.Statx(fd, "", Libc.AT_EMPTY_PATH | Libc.AT_STATX_DONT_SYNC, 0, statx) != 0)
            return false;
        uint major = *(uint*)(statx + 136), minor = *(uint*)(statx + 140);
        return _ownDevice == $"{major}:{minor}";
    }
}
