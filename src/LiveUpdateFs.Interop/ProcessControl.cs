using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Interop;

/// <summary>Process- and mount-level calls the host needs.</summary>
public static unsafe class ProcessControl
{
    public static bool IsRoot => Libc.Geteuid() == 0;

    public static uint EffectiveUid => Libc.Geteuid();

    public static uint EffectiveGid => Libc.Getegid();

    /// <summary>setsid() and stdin/stdout/stderr on /dev/null: a daemon leaves
    /// the terminal's session (Ctrl-C in the shell does not reach it) and lets
    /// go of the pipes of whoever started it (they would never see EOF).</summary>
    public static void DetachFromTerminal()
    {
        Libc.Setsid();
        int devNull = Libc.Open("/dev/null", Libc.O_RDWR | Libc.O_CLOEXEC, 0);
        if (devNull < 0)
            return;
        for (int fd = 0; fd <= 2; fd++)
            Libc.Dup2(devNull, fd);
        Libc.Close(devNull);
    }

    /// <summary>Whether <paramref name="fd"/> of this process is a terminal.</summary>
    public static bool IsTerminal(int fd) => Libc.Isatty(fd) == 1;

    /// <summary>kill(pid, SIGTERM): asks a daemon to stop cleanly.</summary>
    public static Errno Terminate(int pid) => Libc.Kill(pid, 15) == 0 ? Errno.None : Libc.LastErrno;

    /// <summary>kill(pid, SIGKILL): ends a process at once, as a kexec ends every process.</summary>
    public static Errno Kill(int pid) => Libc.Kill(pid, 9) == 0 ? Errno.None : Libc.LastErrno;

    /// <summary>SIGKILL to this process (the test-only fault switch's crash).</summary>
    public static void KillSelf() => Libc.Kill(Environment.ProcessId, 9);

    /// <summary>
    /// Waits until <paramref name="pid"/> has exited (true) or the time is up
    /// (false). A pidfd turns readable at exit, before anyone reaps the
    /// zombie; waiting for the pid to vanish would wait for the reaper (an
    /// orphaned daemon's is init, which may take seconds).
    /// </summary>
    public static bool WaitForExit(int pid, TimeSpan timeout)
    {
        using var pidfd = new SafeFd(Libc.PidfdOpen(pid, 0));
        if (pidfd.IsInvalid)
            return Libc.LastErrno == Errno.ESRCH;
        return WaitForExit(pidfd, timeout);
    }

    /// <summary>Waits until the process of <paramref name="pidfd"/> has exited (true) or the time is up (false).</summary>
    internal static bool WaitForExit(SafeFd pidfd, TimeSpan timeout)
    {
        var fds = new Libc.PollFd { Fd = pidfd.Fd, Events = Libc.POLLIN };
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (true)
        {
            int remaining = (int)Math.Max(0, deadline - Environment.TickCount64);
            int ready = Libc.Poll(&fds, 1, remaining);
            if (ready > 0)
                return true;
            if (ready == 0 || Libc.LastErrno != Errno.EINTR)
                return false;
        }
    }

    /// <summary>
    /// Whether this process may use the calls the daemon needs on its callers
    /// (process_vm_readv, pidfd_getfd), tried on itself. Docker's default
    /// seccomp profile refuses them (EPERM) unless the container has
    /// CAP_SYS_PTRACE. Returns the failing call and its errno, or null.
    /// </summary>
    public static string? CallerAccessProblem()
    {
        long probe = 0x1234;
        long copy = 0;
        var local = new Libc.IoVec { Base = &copy, Length = sizeof(long) };
        var remote = new Libc.IoVec { Base = &probe, Length = sizeof(long) };
        if (Libc.ProcessVmReadv(Environment.ProcessId, &local, 1, &remote, 1, 0) != sizeof(long))
            return $"process_vm_readv: {Libc.LastErrno.Name}";
        using var self = new SafeFd(Libc.PidfdOpen(Environment.ProcessId, 0));
        if (self.IsInvalid)
            return $"pidfd_open: {Libc.LastErrno.Name}";
        using var stdin = new SafeFd(Libc.PidfdGetfd(self, 0, 0));
        return stdin.IsInvalid && Libc.LastErrno != Errno.EBADF ? $"pidfd_getfd: {Libc.LastErrno.Name}" : null;
    }

    /// <summary>umount2(MNT_DETACH): removes a mount even when files on it are open.</summary>
    public static Errno DetachMount(string path) => Libc.Umount2(path, Libc.MNT_DETACH) == 0 ? Errno.None : Libc.LastErrno;

    private const int PrSetPtracer = 0x59616d61;

    /// <summary>Names <paramref name="tracer"/> as this process's ptracer
    /// (Yama's PR_SET_PTRACER): where ptrace_scope is 1, a non-root daemon
    /// can read a process's memory only then. Kept across execve; a fork's
    /// child does not inherit it.</summary>
    public static Uapi.Errno AllowTracer(int tracer) =>
        Libc.Prctl(PrSetPtracer, (ulong)tracer, 0, 0, 0) == 0 ? Uapi.Errno.None : Libc.LastErrno;

    /// <summary>Yama's ptrace_scope (0-3), or -1 without Yama.</summary>
    public static int YamaPtraceScope() =>
        int.TryParse(ProcFs.ReadText("/proc/sys/kernel/yama/ptrace_scope")?.Trim(), out int scope) ? scope : -1;
}
