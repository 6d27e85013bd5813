using LiveUpdateFs.Core.Dispatch;
using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Fuse.Callers;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;
using Serilog;

namespace LiveUpdateFs.Fuse;

/// <summary>
/// The fd hand-over of the three fd-returning requests
/// (src/native/lufs-envelope.h, docs/design.md §4). PREPARE runs the request
/// and leaves its result under a ticket. A session's struct is written back
/// there and then, with the fd number the library reserved, and the session
/// waits on a node of its own (<see cref="SessionNodeNumbers"/>): the open of
/// that node by the requesting thread is its commit, and the open file owns
/// the session from then on. A retrieved memfd goes over the library's
/// socket, and COMMIT reports the fd it landed on. A ticket lives as long as
/// the thread that sent PREPARE (<see cref="HandoverRequesters"/>): its
/// tickets are undone when it exits, and it holds at most
/// <see cref="MaxPendingPerThread"/> (docs/behaviour.md §12).
/// FUSE thread only.
/// </summary>
internal sealed class FdHandover : IDisposable
{
    /// <summary>More than a library ever has in flight (one per thread inside
    /// an fd-returning ioctl); beyond it PREPARE fails at the kernel's
    /// "reserve an fd" step with EMFILE, so abandoned tickets cannot pile up.</summary>
    public const int MaxPendingPerThread = 64;

    /// <summary>The same for all threads of one user together: a device
    /// holder that forks many children, each with one hand-over it never
    /// takes, costs the daemon one pidfd per child; this bounds them.</summary>
    public const int MaxPendingPerUser = 4096;

    private readonly ILogger _log;
    private readonly Dictionary<ulong, Ticket> _tickets = [];
    private readonly Dictionary<uint, int> _pendingByUser = [];
    private readonly SessionNodeNumbers _nodes = new();
    private readonly Dictionary<uint, ulong> _waitingOnNode = [];
    private readonly HandoverRequesters _requesters;
    private HandoverRequester? _daemon;
    private ulong _nextTicket;

    /// <summary>A result waiting for its requester to take it.</summary>
    /// <param name="ThreadId">The thread that sent PREPARE: the only one that may take it.</param>
    /// <param name="Node">The number of the session's node; null for a file.</param>
    private sealed record Ticket(PendingFd Pending, HandoverRequester Requester, int ThreadId, uint? Node);

    public FdHandover(ExitWatcher exits, ILogger log)
    {
        _log = log.ForContext<FdHandover>();
        _requesters = new HandoverRequesters(exits, DropAbandoned);
    }

    public void Attach(IFuseLoop loop) => _requesters.Attach(loop);

    /// <summary>Has <paramref name="threadId"/> sent an envelope PREPARE before?
    /// Only such a thread's short forms are served (<see cref="ShortHandover"/>):
    /// the library's threads start with the envelope, and a program that
    /// speaks no hand-over gets the kernel's answer to those request values.
    /// An entry forgotten since (more than 64 threads without tickets) makes
    /// the library send the envelope again. No pidfd poll here: Reserve,
    /// next in the same request, drops an entry whose thread has ended.</summary>
    public bool Knows(int threadId) => _requesters.Has(threadId);

    /// <summary>A session node exists while its number is in use: from the
    /// PREPARE that reserves it until the session's file is released.</summary>
    public bool IsSessionNode(ulong number) => _nodes.InUse(number);

    /// <summary>
    /// The open of session node <paramref name="node"/> by thread
    /// <paramref name="threadId"/>: the commit of the session waiting there,
    /// which the open file owns from now on. Only the thread that sent
    /// PREPARE may take it (EACCES, and the session keeps waiting), once
    /// (ENOENT after). No caller memory is touched: the struct was written
    /// back at PREPARE.
    /// </summary>
    public Errno OpenSessionNode(int threadId, uint node, out Session? session)
    {
        session = null;
        if (!_waitingOnNode.TryGetValue(node, out ulong id))
            return Errno.ENOENT;
        Ticket ticket = _tickets[id];
        if (!MayTake(ticket, threadId))
        {
            _log.Warning("Thread {Tid} tried to open the session node of thread {Requester}; refused with EACCES (only the thread whose ioctl created a session fd may take it)",
                threadId, ticket.ThreadId);
            return Errno.EACCES;
        }
        Remove(id);
        session = ticket.Pending.Session;
        return Errno.None;
    }

    /// <summary>The session file on node <paramref name="node"/> was
    /// released: the next session may take the number.</summary>
    public void NodeReleased(uint node) => _nodes.Free(node);

    /// <summary>PREPARE's "reserve an fd" step: the library's own answer, or
    /// EMFILE for a thread at its cap of hand-overs not taken.</summary>
    public Errno Reserve(int threadId, uint uid, Errno libraryReserve)
    {
        HandoverRequester? requester = _requesters.Of(threadId); // first of all: drops the entry of an ended thread with this id
        if (libraryReserve.IsError)
            return libraryReserve;
        if (requester is { Tickets.Count: >= MaxPendingPerThread })
        {
            _log.Warning("Thread {Tid} has {Count} fd hand-overs it never took; its next one fails with EMFILE at the reserve step. A library that stops between PREPARE and the open leaves them; they go when the thread exits",
                threadId, MaxPendingPerThread);
            return Errno.EMFILE;
        }
        if (_pendingByUser.GetValueOrDefault(uid) >= MaxPendingPerUser)
        {
            _log.Warning("The threads of uid {Uid} have {Count} fd hand-overs they never took; the next one (thread {Tid}) fails with EMFILE at the reserve step. They go when those threads exit",
                uid, MaxPendingPerUser, threadId);
            return Errno.EMFILE;
        }
        return Errno.None;
    }

    /// <summary>After PREPARE's request succeeded: its result waits under a
    /// new <paramref name="ticket"/>. A session's struct is written back
    /// first, with the fd number the library reserved: the kernel's
    /// copy-back, which comes before the fd is installed (docs/behaviour.md
    /// §4.1 steps 7-8); EFAULT undoes the session. The session waits on
    /// <paramref name="node"/>. A retrieved memfd is sent over
    /// <paramref name="channelFd"/> first.</summary>
    public Errno Keep(CallerProcess process, uint uid, PendingFd pending, int reservedFd, int channelFd, out ulong ticket, out uint? node)
    {
        ticket = 0;
        node = null;
        if (pending.Session is not null)
        {
            if (reservedFd < 0)
            {
                _log.Error("PREPARE of a session from thread {Tid} reserved no fd number (installed_fd {Fd}); refused with EINVAL. Use the preload library built with this daemon",
                    process.ThreadId, reservedFd);
                pending.Abort();
                return Errno.EINVAL;
            }
            Errno written = pending.Complete(reservedFd, process);
            if (written.IsError)
            {
                pending.Abort();
                return written;
            }
        }
        if (pending.File is HeldFile file)
        {
            // The library receives without waiting, so the file is sent before the reply.
            Errno sent = SendToCaller(process, channelFd, file);
            if (sent.IsError)
            {
                pending.Abort();
                return sent;
            }
        }
        HandoverRequester? requester = _requesters.OfCaller(process.ThreadId, uid);
        if (requester is null)
        {
            pending.Abort(); // the requester is gone: nobody can take the fd
            return Errno.ESRCH;
        }
        node = pending.Session is null ? null : _nodes.Take();
        ticket = AddTicket(new Ticket(pending, requester, process.ThreadId, node));
        return Errno.None;
    }

    /// <summary>The short abort (<see cref="ShortHandover"/>): the library could
    /// not open the node of its session, which is undone; the errno stands.</summary>
    public Errno AbortSession(int threadId, uint node, Errno failed)
    {
        if (_waitingOnNode.TryGetValue(node, out ulong id) && MayTake(_tickets[id], threadId))
            Undo(id);
        return Reported(failed);
    }

    /// <summary>The seccomp path (docs/seccomp.md): the daemon itself opens,
    /// on this thread, the session node of <paramref name="pending"/> and
    /// installs that file in the caller. Returns the ticket, which
    /// <see cref="Settle"/> ends, and the node's name.</summary>
    public (ulong Ticket, string Node) KeepForDaemon(PendingFd pending)
    {
        // One entry for the daemon's life, never watched: pinning itself anew
        // for every trapped request would cost a pidfd each time.
        _daemon ??= new HandoverRequester(ProcessPin.Of(Environment.ProcessId)
            ?? throw new InvalidOperationException("the daemon cannot pin itself"), CurrentUser.EffectiveUid);
        uint node = _nodes.Take();
        return (AddTicket(new Ticket(pending, _daemon, CallerThread.OwnThreadId, node)), SessionNodeName(node));
    }

    /// <summary>Ends a ticket of <see cref="KeepForDaemon"/>: true when the
    /// daemon's open took the session (the open file owns it now); otherwise
    /// the session is undone.</summary>
    public bool Settle(ulong ticketId)
    {
        if (!_tickets.ContainsKey(ticketId))
            return true;
        Undo(ticketId);
        return false;
    }

    private ulong AddTicket(Ticket ticket)
    {
        ulong id = ++_nextTicket;
        _tickets.Add(id, ticket);
        ticket.Requester.Tickets.Add(id);
        _requesters.Busy(ticket.Requester);
        if (ticket.Node is { } node)
            _waitingOnNode.Add(node, id);
        _pendingByUser[ticket.Requester.Uid] = _pendingByUser.GetValueOrDefault(ticket.Requester.Uid) + 1;
        return id;
    }

    /// <summary>The PREPARE's answer could not be written: nobody will
    /// take the ticket, so its result is undone now.</summary>
    public void Unanswered(ulong ticketId)
    {
        if (_tickets.ContainsKey(ticketId))
            Undo(ticketId);
    }

    /// <summary>COMMIT: the library reports the fd a retrieved file landed
    /// on, or why it could not install a result (which is then undone).</summary>
    public Errno Commit(int threadId, ICallerMemory memory, Envelope envelope)
    {
        Errno failed = envelope.InstallErrno.IsError ? Reported(envelope.InstallErrno) : Errno.None;
        // A session taken already (its open reached the daemon, and the
        // library failed after it: the release of that file undoes the
        // session) still fails with what the library saw.
        if (!_tickets.TryGetValue(envelope.Ticket, out Ticket? ticket) || !MayTake(ticket, threadId))
            return failed.IsError ? failed : Errno.EINVAL;
        if (failed.IsError)
        {
            Undo(envelope.Ticket);
            return failed;
        }
        if (ticket.Node is not null)
        {
            _log.Error("Thread {Tid} sent COMMIT with an fd for a session, whose commit is the open of its node; the session is dropped. Use the preload library built with this daemon",
                threadId);
            Undo(envelope.Ticket);
            return Errno.EIO;
        }
        Remove(envelope.Ticket);
        return ticket.Pending.Complete(envelope.InstalledFd, memory);
    }

    public static string SessionNodeName(uint node) => $"{Envelope.SessionNodePrefix}{node:x}";

    /// <summary>The errno a library reports, as FUSE can deliver it (<see cref="FuseReply.Fail"/>).</summary>
    private static Errno Reported(Errno failed) => failed.Value is > 0 and < 512 && failed != Errno.ENOSYS ? failed : Errno.EIO;

    public void Dispose()
    {
        _requesters.Dispose();
        _daemon?.Pin.Dispose();
    }

    /// <summary>The thread that sent PREPARE, still the same thread (its pin
    /// has not seen it exit, so a newcomer with its id is refused).</summary>
    private static bool MayTake(Ticket ticket, int threadId) => ticket.ThreadId == threadId && !ticket.Requester.Pin.HasExited;

    /// <summary>A thread that ended between PREPARE and taking its results
    /// leaves tickets no one can take: undo them as the kernel undoes a dropped fd.</summary>
    private void DropAbandoned(HandoverRequester requester)
    {
        if (requester.Tickets.Count > 0)
            _log.Warning("Thread {Tid} ended before taking the fds of {Count} requests; their results are undone",
                requester.Pin.Pid, requester.Tickets.Count);
        foreach (ulong id in requester.Tickets.ToList())
            Undo(id);
        _requesters.Forget(requester);
    }

    /// <summary>Removes a ticket whose result nobody took: the session's node
    /// number is free again, and the result is undone.</summary>
    private void Undo(ulong id)
    {
        Ticket ticket = Remove(id);
        if (ticket.Node is { } node)
            _nodes.Free(node);
        ticket.Pending.Abort();
    }

    /// <summary>Removes a ticket (its requester becomes idle once it has none
    /// left); the caller completes or undoes its result.</summary>
    private Ticket Remove(ulong id)
    {
        _tickets.Remove(id, out Ticket? ticket);
        ticket!.Requester.Tickets.Remove(id);
        if (ticket.Node is { } node)
            _waitingOnNode.Remove(node);
        uint uid = ticket.Requester.Uid;
        if ((_pendingByUser[uid] -= 1) == 0)
            _pendingByUser.Remove(uid);
        if (ticket.Requester.Tickets.Count == 0 && ticket.Requester != _daemon)
            _requesters.MakeIdle(ticket.Requester);
        return ticket;
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
