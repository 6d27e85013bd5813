using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Interop;

/// <summary>
/// One process (or one thread, <see cref="OfThread"/>), held by a pidfd so
/// that its pid can never be mistaken for a later process that reuses the
/// number. Within one FUSE request the kernel already guarantees this (a
/// caller whose request the daemon has read waits for the answer even
/// through SIGKILL, so its tid stays taken); a pin is for what spans
/// requests: the fd hand-over between PREPARE and the session node's open
/// (or COMMIT), pinned to the requesting thread; and for a process another
/// program signals (the reboot's fd holders, the daemon that `unmount` stops).
/// </summary>
public sealed unsafe class ProcessPin : IDisposable
{
    private readonly SafeFd _pidfd;

    private ProcessPin(int pid, SafeFd pidfd)
    {
        Pid = pid;
        _pidfd = pidfd;
    }

    public int Pid { get; }

    /// <summary>The pidfd itself, for <see cref="ExitWatcher"/> (not to be closed).</summary>
    internal SafeFd Pidfd => _pidfd;

    /// <summary>Pins <paramref name="pid"/> while it is running (it is the
    /// caller of the request being handled); null when it is already gone.</summary>
    public static ProcessPin? Of(int pid) => Open(pid, 0);

    /// <summary>Pins thread <paramref name="threadId"/> (PIDFD_THREAD; it is the
    /// caller of the request being handled): <see cref="HasExited"/> turns
    /// true when that thread exits, even while its process lives on; null
    /// when it is already gone.</summary>
    public static ProcessPin? OfThread(int threadId) => Open(threadId, Libc.PIDFD_THREAD);

    private static ProcessPin? Open(int id, uint flags)
    {
        var pidfd = new SafeFd(Libc.PidfdOpen(id, flags));
        if (!pidfd.IsInvalid)
            return new ProcessPin(id, pidfd);
        pidfd.Dispose();
        return null;
    }

    /// <summary>The pinned process (or thread) has exited (the pidfd turned readable).</summary>
    public bool HasExited => Exited(_pidfd);

    /// <summary>The process or thread of <paramref name="pidfd"/> has exited: the pidfd is readable.</summary>
    internal static bool Exited(SafeFd pidfd)
    {
        var fds = new Libc.PollFd { Fd = pidfd.Fd, Events = Libc.POLLIN };
        return Libc.Poll(&fds, 1, 0) != 0; // readable, or an error: treat as gone
    }

    /// <summary><paramref name="pid"/> is this process, still running, and not a newcomer with its number.</summary>
    public bool Is(int pid) => pid == Pid && !HasExited;

    /// <summary>SIGSTOP through the pidfd: it reaches this process or none,
    /// never a later one with the same pid. ESRCH once it has exited.</summary>
    public Errno Stop() => Signal(Libc.SIGSTOP);

    /// <summary>SIGCONT through the pidfd (see <see cref="Stop"/>).</summary>
    public Errno Continue() => Signal(Libc.SIGCONT);

    private Errno Signal(int signal) => Libc.PidfdSendSignal(_pidfd, signal, 0, 0) == 0 ? Errno.None : Libc.LastErrno;

    /// <summary>SIGKILL through the pidfd (see <see cref="Stop"/>).</summary>
    public Errno Kill() => Signal(9);

    /// <summary>SIGTERM through the pidfd (see <see cref="Stop"/>): asks a daemon to stop cleanly.</summary>
    public Errno Terminate() => Signal(15);

    /// <summary>Waits until the pinned process has exited (true) or the time is up (false).</summary>
    public bool WaitForExit(TimeSpan timeout) => ProcessExit.Wait(_pidfd, timeout);

    public void Dispose() => _pidfd.Dispose();
}
