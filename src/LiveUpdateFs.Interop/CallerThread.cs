using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Interop;

/// <summary>
/// The thread that made a request (FUSE and seccomp report the thread id):
/// its memory through process_vm_readv/writev, its fds through pidfd_getfd.
/// What LUO makes of a taken fd is the caller-facing class's job above
/// (Fuse's CallerProcess). One instance per request; dispose it when the
/// reply has been sent.
/// </summary>
/// <param name="mappings">Checks each range before it is touched, so that no
/// access waits on a FUSE server (docs/blocking.md); null: unchecked.</param>
public unsafe class CallerThread(int threadId, MappingGuard? mappings = null) : ICallerMemory, IDisposable
{
    private SafeFd? _pidfd;

    public int ThreadId { get; } = threadId;

    /// <summary>Ranges <see cref="MappingGuard"/> found safe in this request.</summary>
    private (ulong Start, ulong End) _checked;

    /// <summary>
    /// A small read fetches up to <see cref="ReadAhead"/> bytes, never past
    /// its page, and later small reads inside them are answered from this
    /// copy until the next write. Decoding reads a struct's size word and
    /// then its known part (docs/behaviour.md §2.1): one process_vm_readv
    /// (~1.4 us, a tenth of the daemon's time per GET_NAME) instead of two.
    /// The copy is what the caller's memory held at one moment, which the
    /// kernel's two reads may also see; within a page the extra bytes fault
    /// exactly when the first one does, so no errno changes.
    /// </summary>
    private const int ReadAhead = 128;

    private static readonly ulong PageSize = (ulong)Environment.SystemPageSize;

    [System.Runtime.CompilerServices.InlineArray(ReadAhead)]
    private struct Line
    {
        private byte _first;
    }

    private Line _line;
    private ulong _lineStart;
    private int _lineLength;

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
        if (destination.IsEmpty)
            return 0;
        if (destination.Length > ReadAhead || PageRemainder(address) < (ulong)destination.Length)
            return ReadCaller(address, destination);
        if (address < _lineStart || address + (ulong)destination.Length > _lineStart + (ulong)_lineLength)
        {
            _lineStart = address;
            _lineLength = ReadCaller(address, ((Span<byte>)_line)[..(int)Math.Min(ReadAhead, PageRemainder(address))]);
        }
        int offset = (int)(address - _lineStart);
        int count = Math.Min(destination.Length, _lineLength - offset);
        ((Span<byte>)_line).Slice(offset, count).CopyTo(destination);
        return count;
    }

    private int ReadCaller(ulong address, Span<byte> destination)
    {
        destination = destination[..Accessible(address, destination.Length)];
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
        _lineLength = 0; // what was read before may be overwritten now
        if (Accessible(address, source.Length) < source.Length)
            return false;
        fixed (byte* local = source)
        {
            var localVec = new Libc.IoVec { Base = local, Length = (nuint)source.Length };
            var remoteVec = new Libc.IoVec { Base = (void*)address, Length = (nuint)source.Length };
            return Libc.ProcessVmWritevNoErrno(ThreadId, &localVec, 1, &remoteVec, 1, 0) == source.Length;
        }
    }

    private static ulong PageRemainder(ulong address) => PageSize - (address & (PageSize - 1));

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

    private Errno OpenPidfd()
    {
        if (_pidfd is not null)
            return Errno.None;
        // FUSE gives a thread id; PIDFD_THREAD accepts any thread (docs/fuse.md §1).
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

    /// <summary>The id of the calling thread of the daemon itself (gettid), as
    /// FUSE reports it when this thread makes a request of its own mount.</summary>
    public static int OwnThreadId => Libc.Gettid();

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
