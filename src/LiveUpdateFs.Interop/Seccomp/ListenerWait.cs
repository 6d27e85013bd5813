namespace LiveUpdateFs.Interop.Seccomp;

/// <summary>Waits in poll(2) until one of a set of listeners has a call or
/// has ended (all processes under its filter gone: POLLHUP), a timeout
/// passes, or another thread calls <see cref="Wake"/> (an eventfd).</summary>
public sealed unsafe class ListenerWait : IDisposable
{
    private const short PollErrors = Libc.POLLERR | Libc.POLLHUP | Libc.POLLNVAL;

    private readonly SafeFd _wake;

    public enum Readiness
    {
        Idle,
        Call,
        Ended,
    }

    public ListenerWait()
    {
        _wake = new SafeFd(Libc.Eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK));
        if (_wake.IsInvalid)
            throw new InvalidOperationException($"eventfd failed ({Libc.LastErrno.Name}): the daemon cannot serve seccomp listeners");
    }

    /// <summary>Makes a <see cref="Wait"/> in progress (or the next) return; safe from any thread.</summary>
    public void Wake()
    {
        ulong one = 1;
        Libc.Write(_wake, &one, sizeof(ulong));
    }

    /// <summary>What each listener has for us; all Idle after a timeout or a wake-up.</summary>
    /// <param name="timeoutMs">-1: no timeout.</param>
    public Readiness[] Wait(IReadOnlyList<SeccompListener> listeners, int timeoutMs)
    {
        var fds = new Libc.PollFd[listeners.Count + 1];
        fds[0] = new Libc.PollFd { Fd = _wake.Fd, Events = Libc.POLLIN };
        for (int i = 0; i < listeners.Count; i++)
            fds[i + 1] = new Libc.PollFd { Fd = listeners[i].Fd.Fd, Events = Libc.POLLIN };
        int ready;
        fixed (Libc.PollFd* pollFds = fds)
            ready = Libc.Poll(pollFds, (nuint)fds.Length, timeoutMs);
        var result = new Readiness[listeners.Count];
        if (ready <= 0)
            return result;
        if (fds[0].Revents != 0)
        {
            ulong drained;
            Libc.Read(_wake, &drained, sizeof(ulong));
        }
        for (int i = 0; i < listeners.Count; i++)
        {
            short events = fds[i + 1].Revents;
            result[i] = (events & Libc.POLLIN) != 0 ? Readiness.Call : (events & PollErrors) != 0 ? Readiness.Ended : Readiness.Idle;
        }
        return result;
    }

    public void Dispose() => _wake.Dispose();
}
