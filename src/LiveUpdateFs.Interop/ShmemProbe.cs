using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Interop;

/// <summary>
/// What LUO needs to know of an open file, found without any I/O a caller could
/// stall (docs/blocking.md): F_GET_SEALS is answered by the memfd code
/// for shmem and hugetlbfs files only and is EINVAL for every other file,
/// FUSE files of any mount and namespace included. Only such files are
/// then stat'ed (tmpfs and hugetlbfs answer from memory); any other is
/// "not shmem" without being touched. An O_PATH fd is EBADF, as the
/// kernel's fget() says. <see cref="ShmemCandidate"/> is the look before
/// a caller's fd is taken; this is the look at the taken file.
/// </summary>
public static class ShmemProbe
{
    /// <summary><paramref name="shmem"/> is null for a file that is not a
    /// shmem or hugetlbfs file (nothing but its flags and seals were asked).</summary>
    public static Errno Of(SafeFd fd, out ShmemFacts? shmem)
    {
        shmem = null;
        int flags = Libc.Fcntl(fd, Libc.F_GETFL, 0);
        if (flags < 0)
            return Libc.LastErrno;
        if ((flags & Libc.O_PATH) != 0)
            return Errno.EBADF;
        int seals = Libc.Fcntl(fd, Libc.F_GET_SEALS, 0);
        if (seals < 0)
        {
            Errno why = Libc.LastErrno;
            return why == Errno.EINVAL ? Errno.None : why;
        }
        if (Libc.Fstat(fd, out KernelStat stat) != 0 || Libc.Fstatfs(fd, out Libc.StatFs statfs) != 0)
            return Libc.LastErrno;
        shmem = new ShmemFacts(statfs.Type, (stat.Mode & Libc.S_IFMT) == Libc.S_IFREG, stat.Nlink, stat.Dev, stat.Ino, stat.Size, seals);
        return Errno.None;
    }
}
