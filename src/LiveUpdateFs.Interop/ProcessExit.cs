using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Interop;

/// <summary>Waits for a process to exit, by pidfd: bounded, and not for its reaper.</summary>
public static unsafe class ProcessExit
{
    /// <summary>
    /// Waits until <paramref name="pid"/> has exited (true) or the time is up
    /// (false). A pidfd turns readable at exit, before anyone reaps the
    /// zombie; waiting for the pid to vanish would wait for the reaper (an
    /// orphaned daemon's is init, which may take seconds).
    /// </summary>
    public static bool Wait(int pid, TimeSpan timeout)
    {
        using var pidfd = new SafeFd(Libc.PidfdOpen(pid, 0));
        if (pidfd.IsInvalid)
            return Libc.LastErrno == Errno.ESRCH;
        return Wait(pidfd, timeout);
    }

    /// <summary>Waits until the process of <paramref name="pidfd"/> has exited (true) or the time is up (false).</summary>
    internal static bool Wait(SafeFd pidfd, TimeSpan timeout)
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
}
