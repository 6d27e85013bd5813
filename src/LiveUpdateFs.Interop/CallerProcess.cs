using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Interop;

/// <summary>
/// The thread that made a FUSE request (FUSE reports the thread id): its
/// memory through process_vm_readv/writev, its fds through pidfd_getfd.
/// One instance per request; dispose it when the reply has been sent.
/// </summary>
/// <param name="mappings">Checks each range before it is touched, so that no
/// access waits on a FUSE server (docs/blocking.md); null: unchecked.</param>
/// <param name="closer">Closes the files taken from the caller (docs/blocking.md); null: all off the thread.</param>
public sealed unsafe class CallerProcess(int threadId, MappingGuard? mappings = null, TakenFiles? closer = null) : ICallerMemory, ICallerFiles, IDisposable
{
    private const long TmpfsMagic = 0x01021994;
    private const long HugetlbfsMagic = 0x958458f6;

    private SafeFd? _pidfd;

    public int ThreadId { get; } = threadId;

    /// <summary>Ranges <see cref="MappingGuard"/> found safe in this request.</summary>
    private (ulong Start, ulong End) _checked;

    /// <summary>How many of <paramref name="length"/> bytes at <paramref name="address"/>
    /// may be accessed: those within a range already checked, or the prefix the
    /// guard finds safe (the rest is refused as a fault would be, EFAULT).</summary>
    private int Accessible(ulong address, int length)
    {
        if (mappings is null || (address >= _checked.Start && address + (ulong)length <= _checked.End))
            return length;
        ulong safeEnd = mappings.SafeEnd(ThreadId, address, (ulong)length, out var safe);
        if (safe.End > safe.Start)
            _checked = safe;
        return (int)(safeEnd - address);
    }

    public int Read(ulong address, Span<byte> destination)
    {
        destination = destination[..(destination.IsEmpty ? 0 : Accessible(address, destination.Length))];
        if (destination.IsEmpty)
            return 0;
        fixed (byte* local = destination)
        {
            var localVec = new Libc.IoVec { Base = local, Length = (nuint)destination.Length };
            var remoteVec = new Libc.IoVec { Base = (void*)address, Length = (nuint)destination.Length };
            nint read = Libc.ProcessVmReadvNoErrno(ThreadId, &localVec, 1, &remoteVec, 1, 0);
            return read < 0 ? 0 : (int)read;
        }
    }

    public bool Write(ulong address, ReadOnlySpan<byte> source)
    {
        if (source.IsEmpty)
            return true;
        if (Accessible(address, source.Length) < source.Length)
            return false;
        fixed (byte* local = source)
        {
            var localVec = new Libc.IoVec { Base = local, Length = (nuint)source.Length };
            var remoteVec = new Libc.IoVec { Base = (void*)address, Length = (nuint)source.Length };
            return Libc.ProcessVmWritevNoErrno(ThreadId, &localVec, 1, &remoteVec, 1, 0) == source.Length;
        }
    }

    /// <summary>pidfd_getfd without any checks: the daemon's own copy of one of
    /// the caller's fds (the preload library's socket end).</summary>
    public Errno TakeDescriptor(int fd, out SafeFd? descriptor)
    {
        descriptor = null;
        if (fd < 0)
            return Errno.EBADF;
        Errno opened = OpenPidfd();
        if (opened.IsError)
            return opened;
        var taken = new SafeFd(Libc.PidfdGetfd(_pidfd!, fd, 0));
        if (taken.IsInvalid)
        {
            Errno error = Libc.LastErrno;
            taken.Dispose();
            // A vanished caller cannot receive an answer anyway; report its fd as bad.
            return error == Errno.ESRCH ? Errno.EBADF : error;
        }
        descriptor = taken;
        return Errno.None;
    }

    /// <summary>fget(fd): EBADF for a closed or O_PATH fd; a file that /proc
    /// shows is no shmem file is described without being taken (docs/blocking.md).</summary>
    public Errno Take(int fd, out IHeldFile? file)
    {
        file = null;
        switch (ShmemCandidate.Of(ThreadId, fd))
        {
            case ShmemCandidate.Verdict.NotOpen:
                return Errno.EBADF;
            case ShmemCandidate.Verdict.NotShmem:
                file = new UntakenFile();
                return Errno.None;
        }
        Errno taken = TakeDescriptor(fd, out SafeFd? held);
        if (taken.IsError)
            return taken;
        Errno described = Describe(held!, out FileFacts facts);
        closer ??= new TakenFiles(null);
        if (described.IsError)
        {
            closer.Close(held!, shmem: false);
            return described;
        }
        file = new HeldFile(held!, facts, closer);
        return Errno.None;
    }

    /// <summary>
    /// What LUO needs to know of a file, found without any I/O a caller could
    /// stall (docs/blocking.md): F_GET_SEALS is answered by the memfd code
    /// for shmem and hugetlbfs files only and is EINVAL for every other file,
    /// FUSE files of any mount and namespace included. Only such files are
    /// then stat'ed (tmpfs and hugetlbfs answer from memory); any other is
    /// "not a memfd" without being touched. An O_PATH fd is EBADF, as the
    /// kernel's fget() says.
    /// </summary>
    public static Errno Describe(SafeFd fd, out FileFacts facts)
    {
        facts = default;
        int flags = Libc.Fcntl(fd, Libc.F_GETFL, 0);
        if (flags < 0)
            return Libc.LastErrno;
        if ((flags & Libc.O_PATH) != 0)
            return Errno.EBADF;
        int seals = Libc.Fcntl(fd, Libc.F_GET_SEALS, 0);
        if (seals < 0)
        {
            Errno why = Libc.LastErrno;
            if (why != Errno.EINVAL)
                return why;
            facts = new FileFacts(FileSystemKind.Other, IsRegular: false, LinkCount: 1, default, 0);
            return Errno.None;
        }
        if (Libc.Fstat(fd, out KernelStat stat) != 0 || Libc.Fstatfs(fd, out Libc.StatFs statfs) != 0)
            return Libc.LastErrno;
        FileSystemKind fs = statfs.Type switch
        {
            TmpfsMagic => FileSystemKind.Tmpfs,
            HugetlbfsMagic => FileSystemKind.Hugetlbfs,
            _ => FileSystemKind.Other,
        };
        facts = new FileFacts(fs, (stat.Mode & Libc.S_IFMT) == Libc.S_IFREG, stat.Nlink,
            new FileIdentity(stat.Dev, stat.Ino), stat.Size, seals);
        return Errno.None;
    }

    private Errno OpenPidfd()
    {
        if (_pidfd is not null)
            return Errno.None;
        // FUSE gives a thread id; PIDFD_THREAD accepts any thread (fuse-facts).
        var pidfd = new SafeFd(Libc.PidfdOpen(ThreadId, Libc.PIDFD_THREAD));
        if (pidfd.IsInvalid)
        {
            Errno error = Libc.LastErrno;
            pidfd.Dispose();
            return error == Errno.ESRCH ? Errno.EBADF : error;
        }
        _pidfd = pidfd;
        return Errno.None;
    }

    /// <summary>The thread group (process) id of the caller, or 0 when it is gone.</summary>
    public int ProcessId => ThreadGroupOf(ThreadId);

    public static int ThreadGroupOf(int threadId)
    {
        try
        {
            foreach (string line in File.ReadLines($"/proc/{threadId}/status"))
            {
                if (line.StartsWith("Tgid:", StringComparison.Ordinal))
                    return int.Parse(line.AsSpan(5).Trim());
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return 0;
    }

    public void Dispose() => _pidfd?.Dispose();
}
