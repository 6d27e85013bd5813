namespace LiveUpdateFs.Interop;

/// <summary>
/// Tells when processes exit or deadlines pass, without anyone polling: one
/// background thread waits in poll(2) on a pidfd per watched process (it
/// turns readable at exit, before the zombie is reaped) and on an eventfd
/// that announces new watches. Each watch fires once, on that thread, when
/// its process exits or its deadline passes, whichever comes first; the
/// callback must only hand the news on (the daemon posts it to the FUSE
/// thread, which owns all state).
/// </summary>
public sealed unsafe class ExitWatcher : IDisposable
{
    private readonly object _lock = new();
    private readonly Dictionary<long, Watch> _watches = [];
    private readonly SafeFd _wake;
    private long _nextId;
    private readonly Thread _thread;
    private volatile bool _disposed;

    /// <param name="Owned">The pidfd is the watch's own (closed when it ends), not a <see cref="ProcessPin"/>'s.</param>
    private sealed record Watch(SafeFd? Pidfd, bool Owned, long DeadlineMs, Action Fired);

    /// <summary>Starts the thread now: a watch added later cannot fail for
    /// want of a thread (a pids limit), and so cannot be left unwatched.</summary>
    public ExitWatcher()
    {
        _wake = new SafeFd(Libc.Eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK));
        if (_wake.IsInvalid)
            throw new InvalidOperationException($"eventfd failed ({Libc.LastErrno.Name}): the daemon cannot watch its callers");
        _thread = new Thread(Loop) { IsBackground = true, Name = "exit-watcher" };
        _thread.Start();
    }

    /// <summary>Like <see cref="Add(int, TimeSpan?, Action)"/>, with the pidfd
    /// <paramref name="process"/> already holds (no second fd per watch). Cancel
    /// the watch before disposing <paramref name="process"/>.</summary>
    public long Add(ProcessPin process, Action fired) => Add(process.Pidfd, fired);

    /// <summary>Like <see cref="Add(ProcessPin, Action)"/> for any pidfd
    /// (a thread's, PIDFD_THREAD: it turns readable when that thread exits).</summary>
    internal long Add(SafeFd pidfd, Action fired) => Add(new Watch(pidfd, Owned: false, long.MaxValue, fired));

    /// <summary>
    /// Calls <paramref name="fired"/> once when <paramref name="pid"/> exits
    /// or <paramref name="timeout"/> passes (null: no deadline). Call it while
    /// <paramref name="pid"/> is known to be this process (the caller of the
    /// request being handled), so the pidfd cannot name a newcomer with the
    /// same number. A process already gone fires at once. Returns the watch's
    /// id for <see cref="Cancel"/>.
    /// </summary>
    public long Add(int pid, TimeSpan? timeout, Action fired)
    {
        var pidfd = new SafeFd(Libc.PidfdOpen(pid, 0));
        long deadline = pidfd.IsInvalid ? 0 : timeout is { } t ? Environment.TickCount64 + (long)t.TotalMilliseconds : long.MaxValue;
        if (pidfd.IsInvalid)
            pidfd.Dispose();
        return Add(new Watch(pidfd.IsInvalid ? null : pidfd, Owned: true, deadline, fired));
    }

    private long Add(Watch watch)
    {
        long id;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            id = ++_nextId;
            _watches.Add(id, watch);
        }
        Wake();
        return id;
    }

    /// <summary>Stops a watch; it does not fire (unless it is firing right now).</summary>
    public void Cancel(long id)
    {
        Watch? removed;
        lock (_lock)
            _watches.Remove(id, out removed);
        if (removed is { Owned: true })
            removed.Pidfd?.Dispose();
    }

    /// <summary>How many watches are waiting (for tests and status).</summary>
    public int Count
    {
        get
        {
            lock (_lock)
                return _watches.Count;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
                return;
            _disposed = true;
        }
        Wake();
        _thread.Join(TimeSpan.FromSeconds(2));
        lock (_lock)
        {
            foreach (Watch watch in _watches.Values.Where(w => w.Owned))
                watch.Pidfd?.Dispose();
            _watches.Clear();
        }
        _wake.Dispose();
    }

    private void Wake()
    {
        ulong one = 1;
        Libc.Write(_wake, &one, sizeof(ulong));
    }

    private void Loop()
    {
        while (!_disposed)
        {
            List<(long Id, Watch Watch)> watched;
            long nearest = long.MaxValue;
            lock (_lock)
            {
                watched = _watches.Select(w => (w.Key, w.Value)).ToList();
                foreach ((_, Watch w) in watched)
                    nearest = Math.Min(nearest, w.DeadlineMs);
            }
            var fds = new Libc.PollFd[watched.Count + 1];
            fds[0] = new Libc.PollFd { Fd = _wake.Fd, Events = Libc.POLLIN };
            for (int i = 0; i < watched.Count; i++)
                fds[i + 1] = new Libc.PollFd { Fd = watched[i].Watch.Pidfd?.Fd ?? -1, Events = Libc.POLLIN };
            long now = Environment.TickCount64;
            int timeout = nearest == long.MaxValue ? -1 : (int)Math.Clamp(nearest - now, 0, int.MaxValue);
            fixed (Libc.PollFd* pointer = fds)
                Libc.Poll(pointer, (nuint)fds.Length, timeout);
            if (fds[0].Revents != 0)
            {
                ulong count;
                Libc.Read(_wake, &count, sizeof(ulong));
            }
            now = Environment.TickCount64;
            var fired = new List<Watch>();
            lock (_lock)
            {
                for (int i = 0; i < watched.Count; i++)
                {
                    (long id, Watch watch) = watched[i];
                    bool due = fds[i + 1].Revents != 0 || watch.DeadlineMs <= now;
                    if (due && _watches.Remove(id))
                        fired.Add(watch);
                }
            }
            foreach (Watch watch in fired)
            {
                if (watch.Owned)
                    watch.Pidfd?.Dispose();
                try
                {
                    watch.Fired();
                }
                catch (Exception)
                {
                    // A callback only hands the news on; one that fails (no
                    // memory) must not take the daemon down with this thread.
                }
            }
        }
    }
}
