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
    private const int OPath = 0x200000;

    public enum Verdict
    {
        NotOpen,
        NotShmem,
        MaybeShmem,
    }

    public static Verdict Of(int threadId, int fd)
    {
        if (fd < 0)
            return Verdict.NotOpen;
        string? info = ProcFs.ReadText($"/proc/{threadId}/fdinfo/{fd}");
        if (info is null || ProcFs.FieldOf(info, "flags:") is not { } flags || ProcFs.FieldOf(info, "mnt_id:") is not { } mountId)
            return Verdict.NotOpen;
        if ((Convert.ToInt32(flags, 8) & OPath) != 0)
            return Verdict.NotOpen;
        string? target = ProcFs.ReadLink($"/proc/{threadId}/fd/{fd}");
        if (target is null)
            return Verdict.NotOpen;
        if (target.StartsWith("/memfd:", StringComparison.Ordinal))
            return Verdict.MaybeShmem; // memfds live on the kernel's internal shm or hugetlbfs mounts
        string? type = MountTable.TypeOfMount(threadId.ToString(System.Globalization.CultureInfo.InvariantCulture), int.Parse(mountId));
        return type is "tmpfs" or "hugetlbfs" ? Verdict.MaybeShmem : Verdict.NotShmem;
    }
}
