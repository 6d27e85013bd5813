using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Interop;

/// <summary>memfd calls: create, seals, size, position and the data runs
/// (SEEK_DATA/SEEK_HOLE). Errors come back as <see cref="Errno"/> values.</summary>
public static class MemfdOps
{
    /// <summary>memfd_create("", MFD_CLOEXEC|MFD_ALLOW_SEALING). The name is
    /// empty on purpose: it shows in /proc/PID/fd and nothing of a session
    /// should leak there.</summary>
    public static (Errno Error, SafeFd? Fd) Create()
    {
        int fd = Libc.MemfdCreate("", Libc.MFD_CLOEXEC | Libc.MFD_ALLOW_SEALING);
        return fd < 0 ? (Libc.LastErrno, null) : (Errno.None, new SafeFd(fd));
    }

    public static (Errno Error, int Seals) GetSeals(SafeFd fd)
    {
        int seals = Libc.Fcntl(fd, Libc.F_GET_SEALS, 0);
        return seals < 0 ? (Libc.LastErrno, 0) : (Errno.None, seals);
    }

    public static Errno AddSeals(SafeFd fd, int seals) =>
        Libc.Fcntl(fd, Libc.F_ADD_SEALS, seals) < 0 ? Libc.LastErrno : Errno.None;

    public static (Errno Error, KernelStat Stat) Stat(SafeFd fd) =>
        Libc.Fstat(fd, out KernelStat stat) < 0 ? (Libc.LastErrno, default) : (Errno.None, stat);

    public static Errno Truncate(SafeFd fd, long length) =>
        Libc.Ftruncate(fd, length) < 0 ? Libc.LastErrno : Errno.None;

    /// <summary>The file position (lseek SEEK_CUR), shared with every fd of the open file.</summary>
    public static (Errno Error, long Position) Position(SafeFd fd)
    {
        long position = Libc.Lseek(fd, 0, Libc.SEEK_CUR);
        return position < 0 ? (Libc.LastErrno, 0) : (Errno.None, position);
    }

    /// <summary>A new open file of the same memfd (through /proc/self/fd):
    /// same pages, its own file position and flags (O_RDWR).</summary>
    public static (Errno Error, SafeFd? Fd) Reopen(SafeFd fd) => Reopen(fd, Libc.O_RDWR);

    /// <summary>
    /// A private open file of the same memfd, for reading it: its own file
    /// position. The daemon's fd of a preserved memfd comes from pidfd_getfd
    /// and shares the owner's open file description, so SEEK_DATA/SEEK_HOLE on
    /// it would move the owner's position under its feet.
    /// </summary>
    public static (Errno Error, SafeFd? Fd) ReopenForReading(SafeFd fd) => Reopen(fd, Libc.O_RDONLY);

    private static (Errno Error, SafeFd? Fd) Reopen(SafeFd fd, int access)
    {
        var reopened = new SafeFd(Libc.Open($"/proc/self/fd/{fd.Fd}", access | Libc.O_CLOEXEC | Libc.O_LARGEFILE, 0));
        if (!reopened.IsInvalid)
            return (Errno.None, reopened);
        Errno error = Libc.LastErrno;
        reopened.Dispose();
        return (error, null);
    }

    /// <summary>A new memfd (<see cref="Create"/>) with the first
    /// <paramref name="size"/> bytes of <paramref name="source"/>, its holes
    /// kept, then <paramref name="seals"/> added. <paramref name="shared"/>'s
    /// file position never moves (it is read through <see cref="ReopenForReading"/>).</summary>
    public static (Errno Error, SafeFd? Fd) CopyOf(SafeFd shared, long size, int seals)
    {
        var (error, source) = ReopenForReading(shared);
        if (error.IsError)
            return (error, null);
        using (source)
            return CopyOfPrivate(source!, size, seals);
    }

    private static (Errno Error, SafeFd? Fd) CopyOfPrivate(SafeFd source, long size, int seals)
    {
        var (error, copy) = Create();
        if (error.IsError)
            return (error, null);
        error = Truncate(copy!, size);
        var (runError, runs) = error.IsError ? (error, []) : DataRuns(source, size);
        error = runError;
        byte[] bounce = error.IsError || runs.Count == 0 ? [] : new byte[1 << 16];
        foreach (DataRun run in runs)
        {
            if (error.IsError)
                break;
            var (copyError, copied) = FileOps.CopyRange(source, run.Offset, copy!, run.Offset, run.Length, bounce);
            error = copyError.IsError ? copyError : copied == run.Length ? Errno.None : Errno.EIO;
        }
        if (!error.IsError && seals != 0)
            error = AddSeals(copy!, seals);
        if (!error.IsError)
            return (Errno.None, copy);
        copy!.Dispose();
        return (error, null);
    }

    public static Errno SeekTo(SafeFd fd, long position) =>
        Libc.Lseek(fd, position, Libc.SEEK_SET) < 0 ? Libc.LastErrno : Errno.None;

    /// <summary>The data runs of <paramref name="fd"/> below <paramref name="size"/>,
    /// in order. A file system without SEEK_DATA support reports the whole
    /// file as one run, which is still correct, just not sparse.
    /// SEEK_DATA/SEEK_HOLE move the file position of <paramref name="fd"/>'s
    /// open file description, which is left wherever the scan ends: give it a
    /// private one (<see cref="ReopenForReading"/>), never one shared with a
    /// process. Putting a shared position back afterwards is not enough: the
    /// owner sees it jump meanwhile.</summary>
    public static (Errno Error, List<DataRun> Runs) DataRuns(SafeFd fd, long size)
    {
        var runs = new List<DataRun>();
        long position = 0;
        while (position < size)
        {
            long data = Libc.Lseek(fd, position, Libc.SEEK_DATA);
            if (data < 0)
            {
                Errno error = Libc.LastErrno;
                // ENXIO: no data at or after position — the rest is a hole.
                return error == Errno.ENXIO ? (Errno.None, runs) : (error, runs);
            }
            if (data >= size)
                break;
            long hole = Libc.Lseek(fd, data, Libc.SEEK_HOLE);
            if (hole < 0)
                return (Libc.LastErrno, runs);
            hole = Math.Min(hole, size);
            runs.Add(new DataRun(data, hole - data));
            position = hole;
        }
        return (Errno.None, runs);
    }
}
