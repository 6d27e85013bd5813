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

    /// <summary>umount2(MNT_DETACH): removes a mount even when files on it are open.</summary>
    public static Errno DetachMount(string path) => Libc.Umount2(path, Libc.MNT_DETACH) == 0 ? Errno.None : Libc.LastErrno;
}
