using LiveUpdateFs.Core.Dispatch;
using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Fuse.Callers;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;
using Serilog;

namespace LiveUpdateFs.Fuse;

/// <summary>
/// The fd hand-over of the three fd-returning requests
/// (src/native/lufs-envelope.h): PREPARE runs the request and leaves its
/// result under a ticket, the library installs it (opens the session node or
/// receives the memfd), COMMIT completes it. A ticket lives as long as its
/// requester: one pidfd per requesting process, watched in
/// <see cref="ExitWatcher"/>, drops all its tickets when it exits; and a
/// process holds at most <see cref="MaxPendingPerProcess"/> uncommitted
/// tickets (docs/behaviour.md §12). FUSE thread only.
/// </summary>
internal sealed class FdHandover(ExitWatcher exits, ILogger log) : IDisposable
{
    /// <summary>More than a library ever has in flight (one per thread inside
    /// an fd-returning ioctl); beyond it PREPARE fails at the kernel's
    /// "reserve an fd" step with EMFILE, so abandoned tickets cannot pile up.</summary>
    public const int MaxPendingPerProcess = 64;

    /// <summary>The same for all processes of one user together: a device
    /// holder that forks many children, each with one uncommitted hand-over,
    /// costs the daemon one pidfd per child; this bounds them.</summary>
    public const int MaxPendingPerUser = 4096;

    private readonly ILogger _log = log.ForContext<FdHandover>();
    private readonly Dictionary<ulong, Ticket> _tickets = [];
    private readonly Dictionary<int, Requester> _requesters = [];
    private readonly Dictionary<uint, int> _pendingByUser = [];
    private IFuseLoop? _loop;
    private Requester? _daemon;
    private ulong _nextTicket;

    /// <summary>A process with uncommitted tickets, pinned by one pidfd.</summary>
    private sealed class Requester(ProcessPin pin, uint uid)
    {
        public ProcessPin Pin { get; } = pin;
        public uint Uid { get; } = uid;
        public HashSet<ulong> Tickets { get; } = [];
        public long ExitWatch { get; set; }
    }

    /// <summary>A result waiting for its requester's library to install it.</summary>
    private sealed class Ticket(PendingFd pending, Requester requester)
    {
        public PendingFd Pending { get; } = pending;
        public Requester Requester { get; } = requester;
        public bool Opened { get; set; }
    }

    public void Attach(IFuseLoop loop) => _loop = loop;

    /// <summary>A session node is visible while its ticket waits to be opened.</summary>
    public bool IsOpenable(ulong ticketId) =>
        _tickets.TryGetValue(ticketId, out Ticket? ticket) && !ticket.Opened && ticket.Pending.Session is not null;

    /// <summary>The open of a session node: only its requester, once.</summary>
    public Errno OpenSessionNode(int pid, ulong ticketId, out Session? session)
    {
        session = null;
        if (!_tickets.TryGetValue(ticketId, out Ticket? ticket) || ticket.Opened || ticket.Pending.Session is null)
            return Errno.ENOENT;
        if (!ticket.Requester.Pin.Is(pid))
        {
            _log.Warning("Process {Pid} tried to open the session node of process {Requester}; refused with EACCES (only the process whose ioctl created a session fd may take it)",
                pid, ticket.Requester.Pin.Pid);
            return Errno.EACCES;
        }
        ticket.Opened = true;
        session = ticket.Pending.Session;
        return Errno.None;
    }

    /// <summary>PREPARE's "reserve an fd" step: the library's own answer, or
    /// EMFILE for a process at its cap of uncommitted hand-overs.</summary>
    public Errno Reserve(int pid, uint uid, Errno libraryReserve)
    {
        if (libraryReserve.IsError)
            return libraryReserve;
        if (RequesterOf(pid) is { Tickets.Count: >= MaxPendingPerProcess })
        {
            _log.Warning("Process {Pid} has {Count} fd hand-overs it never completed; its next one fails with EMFILE at the reserve step. A library that dies between PREPARE and COMMIT leaves them; they go when the process exits",
                pid, MaxPendingPerProcess);
            return Errno.EMFILE;
        }
        if (_pendingByUser.GetValueOrDefault(uid) >= MaxPendingPerUser)
        {
            _log.Warning("The processes of uid {Uid} have {Count} fd hand-overs they never completed; the next one (pid {Pid}) fails with EMFILE at the reserve step. They go when those processes exit",
                uid, MaxPendingPerUser, pid);
            return Errno.EMFILE;
        }
        return Errno.None;
    }

    /// <summary>After PREPARE's request succeeded: its result waits under a
    /// new ticket named in the envelope (a retrieved memfd is sent first).</summary>
    public Errno Keep(CallerProcess process, uint uid, PendingFd pending, Envelope envelope)
    {
        if (pending.File is HeldFile file)
        {
            // The library receives without waiting, so the file is sent before the reply.
            Errno sent = SendToCaller(process, envelope.ChannelFd, file);
            if (sent.IsError)
            {
                pending.Abort();
                return sent;
            }
        }
        Requester? requester = RequesterOf(process.ProcessId) ?? NewRequester(process.ProcessId, uid);
        if (requester is null)
        {
            pending.Abort(); // the requester is gone: nobody can take the fd
            return Errno.ESRCH;
        }
        ulong id = AddTicket(pending, requester);
        envelope.Ticket = id;
        envelope.SetNodeName(pending.Session is null ? "" : SessionNodeName(id));
        return Errno.None;
    }

    /// <summary>The seccomp path (docs/seccomp.md): the daemon itself opens
    /// the session node of <paramref name="pending"/> and installs that file
    /// in the caller. Returns the ticket whose node only the daemon may open;
    /// <see cref="Settle"/> ends it.</summary>
    public ulong KeepForDaemon(PendingFd pending)
    {
        // One requester entry for the daemon's life: pinning itself anew for
        // every trapped request would cost a pidfd and an exit watch each time.
        _daemon ??= NewRequester(Environment.ProcessId, CurrentUser.EffectiveUid)
            ?? throw new InvalidOperationException("the daemon cannot pin itself");
        return AddTicket(pending, _daemon);
    }

    /// <summary>Ends a ticket of <see cref="KeepForDaemon"/>: its result, and
    /// whether its node was opened (the open file then owns the session).</summary>
    public PendingFd Settle(ulong ticketId, out bool opened)
    {
        opened = _tickets[ticketId].Opened;
        return Drop(ticketId);
    }

    private ulong AddTicket(PendingFd pending, Requester requester)
    {
        ulong id = ++_nextTicket;
        _tickets.Add(id, new Ticket(pending, requester));
        requester.Tickets.Add(id);
        _pendingByUser[requester.Uid] = _pendingByUser.GetValueOrDefault(requester.Uid) + 1;
        return id;
    }

    /// <summary>The PREPARE's answer could not be written: nobody will
    /// complete the ticket, so its result is undone now.</summary>
    public void Unanswered(ulong ticketId)
    {
        if (_tickets.ContainsKey(ticketId))
            Drop(ticketId).Abort();
    }

    /// <summary>COMMIT: the library reports the fd it installed (or why it could not).</summary>
    public Errno Commit(CallerProcess process, Envelope envelope)
    {
        if (!_tickets.TryGetValue(envelope.Ticket, out Ticket? ticket) || !ticket.Requester.Pin.Is(process.ProcessId))
            return Errno.EINVAL;
        Drop(envelope.Ticket);
        if (envelope.InstallErrno.IsError)
        {
            ticket.Pending.Abort();
            return envelope.InstallErrno.Value is > 0 and < 512 ? envelope.InstallErrno : Errno.EIO;
        }
        if (ticket.Pending.Session is not null && !ticket.Opened)
        {
            _log.Error("The preload library of pid {Pid} committed a session fd it never opened; the session is dropped. Use the preload library built with this daemon",
                process.ProcessId);
            ticket.Pending.Abort();
            return Errno.EIO;
        }
        return ticket.Pending.Complete(envelope.InstalledFd, process);
    }

    public static string SessionNodeName(ulong ticket) => $"{Envelope.SessionNodePrefix}{ticket:x}";

    public void Dispose()
    {
        foreach (Requester requester in _requesters.Values)
        {
            exits.Cancel(requester.ExitWatch);
            requester.Pin.Dispose();
        }
        _requesters.Clear();
    }

    /// <summary>The live requester entry of <paramref name="pid"/>; an entry
    /// whose process has exited (its pid may be reused now) is dropped first.</summary>
    private Requester? RequesterOf(int pid)
    {
        if (!_requesters.TryGetValue(pid, out Requester? requester))
            return null;
        if (requester.Pin.Is(pid))
            return requester;
        DropAbandoned(requester);
        return null;
    }

    private Requester? NewRequester(int pid, uint uid)
    {
        if (ProcessPin.Of(pid) is not { } pin)
            return null;
        var requester = new Requester(pin, uid);
        _requesters.Add(pid, requester);
        // Dropped as soon as the requester exits without completing (README
        // "What a reboot hands over"): its session is never handed over.
        requester.ExitWatch = exits.Add(pin, () => _loop?.Post(() => DropIfExited(requester)));
        return requester;
    }

    /// <summary>Runs on the FUSE thread when the requester's pidfd turns readable.</summary>
    private void DropIfExited(Requester requester)
    {
        if (_requesters.TryGetValue(requester.Pin.Pid, out Requester? current) && current == requester && requester.Pin.HasExited)
            DropAbandoned(requester);
    }

    /// <summary>A library that died between PREPARE and COMMIT leaves tickets
    /// no one will complete: undo them as the kernel undoes a dropped fd.</summary>
    private void DropAbandoned(Requester requester)
    {
        if (requester.Tickets.Count > 0)
            _log.Warning("Process {Pid} died before taking the fds of {Count} requests; their results are undone",
                requester.Pin.Pid, requester.Tickets.Count);
        if (requester.Tickets.Count == 0)
            Forget(requester);
        foreach (ulong id in requester.Tickets.ToList())
            Drop(id).Abort(); // the last one forgets the requester
    }

    /// <summary>Removes a ticket (and its requester once it has none left);
    /// the caller completes or aborts its result.</summary>
    private PendingFd Drop(ulong id)
    {
        _tickets.Remove(id, out Ticket? ticket);
        ticket!.Requester.Tickets.Remove(id);
        uint uid = ticket.Requester.Uid;
        if ((_pendingByUser[uid] -= 1) == 0)
            _pendingByUser.Remove(uid);
        if (ticket.Requester.Tickets.Count == 0 && ticket.Requester != _daemon)
            Forget(ticket.Requester);
        return ticket.Pending;
    }

    private void Forget(Requester requester)
    {
        if (_requesters.TryGetValue(requester.Pin.Pid, out Requester? current) && current == requester)
            _requesters.Remove(requester.Pin.Pid);
        exits.Cancel(requester.ExitWatch);
        requester.Pin.Dispose();
    }

    /// <summary>The retrieved memfd over the library's socket (channel_fd):
    /// only a unix socket is used, and the send never waits (a full queue is
    /// EAGAIN at once; docs/blocking.md).</summary>
    private Errno SendToCaller(CallerProcess process, int channelFd, HeldFile file)
    {
        Errno taken = process.TakeDescriptor(channelFd, out SafeFd? channel);
        if (taken.IsError)
            return taken;
        Errno checkedSocket = UnixRights.CheckUnixSocket(channel!);
        if (checkedSocket.IsError)
        {
            DeferredClose.Close(channel!);
            return checkedSocket;
        }
        Errno sent = UnixRights.Send(channel!, file.Fd);
        // Off the thread too: if the caller closed its end meanwhile, this close
        // is the last one and releases whatever fds wait in the socket's queue.
        DeferredClose.Close(channel!);
        if (sent == Errno.EAGAIN)
            _log.Warning("The socket pid {Pid} passed for its retrieved memfd is full; RETRIEVE_FD fails with EAGAIN and the file counts as retrieved (as after a failed write-back); the preload library always passes a fresh socket pair", process.ProcessId);
        return sent;
    }
}
