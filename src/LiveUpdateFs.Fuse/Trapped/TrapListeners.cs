using LiveUpdateFs.Interop;
using LiveUpdateFs.Interop.Seccomp;
using LiveUpdateFs.Uapi;
using Serilog;

namespace LiveUpdateFs.Fuse.Trapped;

/// <summary>
/// The seccomp listeners the daemon serves (docs/seccomp.md) and the one
/// thread that waits on them all: it receives each trapped call and has
/// <see cref="TrappedCalls"/> answer it. A listener goes when its tree has
/// ended (poll says POLLHUP). Calls that come while the boot is frozen wait
/// (the kernel blocks them too) and are tried again every
/// <see cref="HeldRetry"/>; at the daemon's end they are answered ENOTCONN,
/// as its held FUSE requests. Bounded per user and in all
/// (<see cref="MaxPerUser"/>, <see cref="MaxTotal"/>): a listener costs an fd.
/// </summary>
internal sealed class TrapListeners : IDisposable
{
    public const int MaxPerUser = 64;
    public const int MaxTotal = 1024;
    private static readonly TimeSpan HeldRetry = TimeSpan.FromMilliseconds(50);

    private readonly TrappedCalls _calls;
    private readonly ILogger _log;
    private readonly object _lock = new();
    private readonly List<TrapOwner> _owners = [];
    private readonly List<(TrapOwner Owner, SeccompNotification Call)> _held = [];
    private readonly ListenerWait _wait = new();
    private Thread? _thread;
    private volatile bool _stopping;

    public TrapListeners(TrappedCalls calls, ILogger log)
    {
        _calls = calls;
        _log = log.ForContext<TrapListeners>();
    }

    /// <summary>Serves <paramref name="fd"/> from now on (taken over: closed
    /// on failure). EINVAL: not a seccomp listener; EMFILE: too many.</summary>
    public Errno Add(SafeFd fd, uint uid, int pid)
    {
        if (SeccompListener.Adopt(fd) is not { } listener)
        {
            fd.Dispose();
            return Errno.EINVAL;
        }
        lock (_lock)
        {
            if (_stopping)
            {
                listener.Dispose();
                return Errno.ENOTCONN;
            }
            if (_owners.Any(o => o.Listener.IsSameAs(listener)))
            {
                listener.Dispose(); // served already (a keeper's second offer): one receiver per listener
                return Errno.None;
            }
            if (_owners.Count >= MaxTotal || _owners.Count(o => o.Uid == uid) >= MaxPerUser)
            {
                listener.Dispose();
                _log.Warning("A seccomp listener from pid {Pid} (uid {Uid}) is refused with EMFILE: at most {PerUser} per user and {Total} in all are served; they go when their process trees end",
                    pid, uid, MaxPerUser, MaxTotal);
                return Errno.EMFILE;
            }
            _owners.Add(new TrapOwner(listener, uid, pid));
            if (_thread is null)
            {
                _thread = new Thread(Loop) { IsBackground = true, Name = "seccomp-listener" };
                // Not the registering request's log context (it would name every later call).
                using (ExecutionContext.SuppressFlow())
                    _thread.Start();
            }
        }
        _wait.Wake();
        _log.Information("Serving the seccomp listener of pid {Pid} (uid {Uid}): the fd-returning LUO requests of its process tree are answered here", pid, uid);
        return Errno.None;
    }

    /// <summary>Stops the thread (waiting at most <paramref name="bound"/> for
    /// the call it is answering) and hands the listeners over to the caller,
    /// to pass on to the next boot. A thread that does not stop in time is
    /// shut out of the state (<see cref="TrappedCalls.ShutOut"/>): its call
    /// fails, and the listeners go on all the same (the thread ends with the
    /// exec or the process).</summary>
    public IReadOnlyList<TrapOwner> Detach(TimeSpan bound)
    {
        Thread? thread;
        lock (_lock)
        {
            _stopping = true;
            thread = _thread;
        }
        _wait.Wake();
        if (thread is not null && !thread.Join(bound))
        {
            _log.Warning("The seccomp listener thread did not stop within {Seconds} s; the call it answers fails, its listeners are handed on", bound.TotalSeconds);
            _calls.ShutOut();
        }
        else
        {
            foreach ((TrapOwner owner, SeccompNotification call) in _held)
                owner.Listener.Answer(call.Id, Errno.ENOTCONN); // as the held FUSE requests: the "machine" went down
            _held.Clear();
        }
        lock (_lock)
        {
            TrapOwner[] owners = [.. _owners];
            _owners.Clear();
            return owners;
        }
    }

    public void Dispose()
    {
        foreach (TrapOwner owner in Detach(TimeSpan.FromSeconds(5)))
            owner.Listener.Dispose();
        _wait.Dispose();
    }

    private void Loop()
    {
        try
        {
            Serve();
        }
        catch (ObjectDisposedException)
        {
            // A stop that did not wait for this thread has handed the listeners on.
        }
    }

    private void Serve()
    {
        while (!_stopping)
        {
            TrapOwner[] owners;
            lock (_lock)
                owners = [.. _owners];
            ListenerWait.Readiness[] ready = _wait.Wait(owners.Select(o => o.Listener).ToList(), _held.Count > 0 ? (int)HeldRetry.TotalMilliseconds : -1);
            if (_stopping)
                return;
            for (int i = 0; i < owners.Length; i++)
            {
                if (ready[i] == ListenerWait.Readiness.Call)
                    ReceiveOne(owners[i]);
                else if (ready[i] == ListenerWait.Readiness.Ended)
                    Remove(owners[i], "its process tree has ended");
            }
            RetryHeld();
        }
    }

    private void ReceiveOne(TrapOwner owner)
    {
        Errno received = owner.Listener.Receive(out SeccompNotification call);
        if (received == Errno.ENOENT || received == Errno.EINTR)
            return; // the caller was killed before we took its call
        if (received.IsError)
        {
            Remove(owner, $"receiving failed with {received.Name}");
            return;
        }
        Handle(owner, call);
    }

    private void RetryHeld()
    {
        if (_held.Count == 0)
            return;
        var held = _held.ToArray();
        _held.Clear();
        foreach ((TrapOwner owner, SeccompNotification call) in held)
        {
            if (owner.Listener.IsValid(call.Id))
                Handle(owner, call);
            else
                _calls.Forget(call.Id);
        }
    }

    private void Handle(TrapOwner owner, SeccompNotification call)
    {
        try
        {
            if (_calls.Handle(owner, call) == TrappedCalls.Fate.Held)
            {
                _held.Add((owner, call));
                return;
            }
        }
        catch (ObjectDisposedException)
        {
            // Shut out by a stop that could not wait for this call.
            _log.Warning("A trapped call of pid {Pid} came after the daemon began to stop; it fails with ENOTCONN", call.ThreadId);
            AnswerLast(owner, call, Errno.ENOTCONN);
        }
        catch (Exception ex)
        {
            _log.Error(ex, "A trapped call of pid {Pid} failed inside the daemon; it gets EIO. Please report this with the log", call.ThreadId);
            AnswerLast(owner, call, Errno.EIO);
        }
        _calls.Forget(call.Id); // answered (or its caller gone): its slow work's results go
    }

    /// <summary>An answer after a failure; the listener itself may be gone
    /// already (handed on by a stop that did not wait for this thread).</summary>
    private static void AnswerLast(TrapOwner owner, SeccompNotification call, Errno result)
    {
        try
        {
            owner.Listener.Answer(call.Id, result);
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private void Remove(TrapOwner owner, string why)
    {
        lock (_lock)
            _owners.Remove(owner);
        foreach ((TrapOwner _, SeccompNotification call) in _held.Where(h => h.Owner == owner))
            _calls.Forget(call.Id);
        _held.RemoveAll(h => h.Owner == owner);
        owner.Listener.Dispose();
        _log.Information("Stopped serving the seccomp listener of pid {Pid}: {Why}", owner.Pid, why);
    }
}
