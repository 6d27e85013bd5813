using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Interop;

/// <summary>An eventfd that wakes a thread blocked in <see cref="WaitForInput"/>.</summary>
public sealed unsafe class WakeupSignal : IDisposable
{
    private readonly SafeFd _fd;

    public WakeupSignal()
    {
        _fd = new SafeFd(Libc.EventFd(0, Libc.EFD_CLOEXEC));
        if (_fd.IsInvalid)
            throw new InvalidOperationException($"eventfd failed with {Libc.LastErrno.Name}; the system is out of file descriptors");
    }

    /// <summary>Async-signal-safe: one write(2).</summary>
    public void Signal()
    {
        ulong one = 1;
        Libc.Write(_fd, &one, sizeof(ulong));
    }

    /// <summary>Blocks until <paramref name="fd"/> is readable (true) or the
    /// signal fires (false). EINTR is retried.</summary>
    public Errno WaitForInput(int fd, out bool readable)
    {
        readable = false;
        Libc.PollFd* fds = stackalloc Libc.PollFd[2];
        while (true)
        {
            fds[0] = new Libc.PollFd { Fd = fd, Events = Libc.POLLIN };
            fds[1] = new Libc.PollFd { Fd = _fd.Fd, Events = Libc.POLLIN };
            if (Libc.Poll(fds, 2, -1) >= 0)
            {
                readable = fds[1].Revents == 0;
                return Errno.None;
            }
            Errno error = Libc.LastErrno;
            if (error != Errno.EINTR)
                return error;
        }
    }

    public void Dispose() => _fd.Dispose();
}
