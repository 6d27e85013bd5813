namespace LiveUpdateFs.Interop;

/// <summary>
/// What /proc says of a caller's fd before the daemon takes it: closed or
/// O_PATH (EBADF, as the kernel's fget), possibly a shmem file (a memfd, or a
/// file on a tmpfs or hugetlbfs mount), or certainly not one. A file that is
/// certainly not shmem is never taken: the daemon would have to close it,
/// and closing a file of a FUSE mount waits for that mount's server
/// (docs/blocking.md). Reads /proc only (fdinfo, the fd's link, mountinfo),
/// none of which asks a file system anything.
/// </summary>
public static class ShmemCandidate
{
    public enum Verdict
    {
        NotOpen,
        NotShmem,
        MaybeShmem,
    }

    public static Verdict Of(int threadId, int fd)
    {
        if (FdInfo.Of(threadId, fd) is not { IsPathOnly: false } info)
            return Verdict.NotOpen;
        string? target = ProcFs.ReadLink($"/proc/{threadId}/fd/{fd}");
        if (target is null)
            return Verdict.NotOpen;
        if (target.StartsWith("/memfd:", StringComparison.Ordinal))
            return Verdict.MaybeShmem; // memfds live on the kernel's internal shm or hugetlbfs mounts
        string? type = MountTable.TypeOfMount(threadId.ToString(System.Globalization.CultureInfo.InvariantCulture), info.MountId);
        return type is "tmpfs" or "hugetlbfs" ? Verdict.MaybeShmem : Verdict.NotShmem;
    }
}
