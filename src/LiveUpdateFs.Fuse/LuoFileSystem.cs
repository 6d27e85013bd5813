using LiveUpdateFs.Core.Dispatch;
using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Core.Reboot;
using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;
using Serilog;
using Serilog.Context;
using Serilog.Core;
using Serilog.Events;

namespace LiveUpdateFs.Fuse;

/// <summary>
/// The FUSE face of the orchestrator: the device node, per-session nodes for
/// session fds, the control node (the preload library's frozen-size query and
/// the reboot command's freeze), and status.json. Runs on the single FUSE thread.
/// </summary>
/// <param name="reboots">Owns the reboot (FREEZE, RESTART); null: reboots are refused (EOPNOTSUPP).</param>
/// <param name="daemon">What status.json says about the daemon.</param>
/// <param name="access">Who may open the device; default 0600, the daemon's group.</param>
public sealed class LuoFileSystem(LuoDispatcher dispatcher, ILogger log, RebootStateMachine? reboots = null, DaemonFacts? daemon = null,
    NodeAccess? access = null)
    : IFuseFileSystem, IDisposable
{
    private readonly LuoNodes _nodes = new(access ?? NodeAccess.Default);
    private readonly ILogger _log = log.ForContext<LuoFileSystem>();
    private readonly Dictionary<ulong, OpenFile> _openFiles = [];
    private readonly Dictionary<ulong, Ticket> _tickets = [];
    private readonly ExitWatcher _exits = new();
    private IFuseLoop? _loop;
    private ulong _nextHandle;
    private ulong _nextTicket;

    /// <summary>The loop that serves this file system: news from other
    /// threads (a requester's or the reboot client's exit) reach the state
    /// through it, and a thaw answers the held requests.</summary>
    public void Attach(IFuseLoop loop) => _loop = loop;

    public void Dispose() => _exits.Dispose();

    private Orchestrator Orchestrator => dispatcher.Orchestrator;

    private abstract record OpenFile;

    private sealed record DeviceFile : OpenFile;

    /// <param name="Node">The per-session node the fd is open on (status: who holds it).</param>
    private sealed record SessionFile(Session Session, string Node) : OpenFile;

    private sealed record ControlFile : OpenFile;

    private sealed record StatusFile(byte[] Content) : OpenFile;

    /// <summary>A command that succeeded and waits for the library to install
    /// its fd; only its requester (pinned: a later process with the same pid
    /// is not it) may open its session node and commit it.</summary>
    private sealed class Ticket(PendingFd pending, ProcessPin requester) : IDisposable
    {
        public PendingFd Pending { get; } = pending;
        public ProcessPin Requester { get; } = requester;
        public bool Opened { get; set; }

        /// <summary>The watch that drops the ticket when its requester exits.</summary>
        public long ExitWatch { get; set; }

        public void Dispose() => Requester.Dispose();
    }

    // ---- nodes ----

    public FuseReply Lookup(FuseCaller caller, ulong parent, string name)
    {
        if (parent != LuoNodes.Root)
            return FuseReply.Fail(Errno.ENOENT);
        return name switch
        {
            LuoNodes.DeviceName => FuseReply.Entry(_nodes.DeviceAttributes),
            LuoNodes.StatusName => FuseReply.Entry(_nodes.StatusAttributes),
            Envelope.ControlNode => FuseReply.Entry(_nodes.ControlAttributes),
            _ when TryParseSessionNode(name, out ulong ticket) && _tickets.TryGetValue(ticket, out Ticket? t) && !t.Opened
                => FuseReply.Entry(_nodes.SessionAttributes(LuoNodes.SessionBase + ticket)),
            _ => FuseReply.Fail(Errno.ENOENT),
        };
    }

    public FuseReply GetAttributes(FuseCaller caller, ulong inode) => inode switch
    {
        LuoNodes.Root => FuseReply.Attr(_nodes.RootAttributes),
        LuoNodes.Device => FuseReply.Attr(_nodes.DeviceAttributes),
        LuoNodes.Control => FuseReply.Attr(_nodes.ControlAttributes),
        LuoNodes.Status => FuseReply.Attr(_nodes.StatusAttributes),
        >= LuoNodes.SessionBase => FuseReply.Attr(_nodes.SessionAttributes(inode)),
        _ => FuseReply.Fail(Errno.ENOENT),
    };

    /// <summary>Accepted and ignored, so that open(O_TRUNC) works as on the
    /// kernel's character device (it ignores truncation).</summary>
    public FuseReply SetAttributes(FuseCaller caller, ulong inode) => GetAttributes(caller, inode);

    public FuseReply ReadDirectory(FuseCaller caller, ulong inode) => inode != LuoNodes.Root
        ? FuseReply.Fail(Errno.ENOTDIR)
        : FuseReply.Directory(
        [
            (".", _nodes.RootAttributes),
            ("..", _nodes.RootAttributes),
            (LuoNodes.DeviceName, _nodes.DeviceAttributes),
            (LuoNodes.StatusName, _nodes.StatusAttributes),
        ]);

    // ---- open files ----

    public FuseReply Open(FuseCaller caller, ulong inode, int flags)
    {
        // Spec §7: after a successful reboot serialization LUO blocks every caller until the "machine" goes down.
        if (inode is LuoNodes.Device or >= LuoNodes.SessionBase && Orchestrator.Frozen)
            return FuseReply.Hold;
        switch (inode)
        {
            case LuoNodes.Device:
                // Spec §3: single opener; the flag drops when the last copy is released.
                Errno opened = Orchestrator.OpenDevice();
                if (opened.IsError)
                {
                    _log.Debug("open of the device by pid {Pid} refused: {Errno}", caller.ThreadId, opened.Name);
                    return FuseReply.Fail(opened);
                }
                return FuseReply.Opened(Add(new DeviceFile()));
            case LuoNodes.Control:
                return FuseReply.Opened(Add(new ControlFile()));
            case LuoNodes.Status:
                return FuseReply.Opened(Add(new StatusFile(RenderStatus())));
            case >= LuoNodes.SessionBase:
                return OpenSessionNode(caller, inode - LuoNodes.SessionBase);
            default:
                return FuseReply.Fail(Errno.EISDIR);
        }
    }

    private FuseReply OpenSessionNode(FuseCaller caller, ulong ticketId)
    {
        if (!_tickets.TryGetValue(ticketId, out Ticket? ticket) || ticket.Opened || ticket.Pending.Session is not { } session)
            return FuseReply.Fail(Errno.ENOENT);
        int pid = CallerProcess.ThreadGroupOf(caller.ThreadId);
        if (!ticket.Requester.Is(pid))
        {
            _log.Warning("Process {Pid} tried to open the session node of process {Requester}; refused with EACCES (only the process whose ioctl created a session fd may take it)",
                pid, ticket.Requester.Pid);
            return FuseReply.Fail(Errno.EACCES);
        }
        ticket.Opened = true;
        Orchestrator.SessionHeld(session);
        return FuseReply.Opened(Add(new SessionFile(session, SessionNodeName(ticketId))));
    }

    public FuseReply Flush(FuseCaller caller, ulong inode, ulong handle) => FuseReply.Ok;

    public FuseReply Release(ulong inode, ulong handle)
    {
        if (!_openFiles.Remove(handle, out OpenFile? file))
            return FuseReply.Ok;
        switch (file)
        {
            case DeviceFile:
                Orchestrator.ReleaseDevice();
                break;
            case SessionFile { Session: var session }:
                Orchestrator.ReleaseSession(session);
                break;
        }
        return FuseReply.Ok;
    }

    public FuseReply Read(FuseCaller caller, ulong inode, ulong handle, long offset, int size)
    {
        if (!_openFiles.TryGetValue(handle, out OpenFile? file) || file is not StatusFile status)
            return FuseReply.Fail(Errno.EINVAL); // spec §2.5: no read op on LUO files
        int start = (int)Math.Min(offset, status.Content.Length);
        return FuseReply.Bytes(status.Content.AsSpan(start, Math.Min(size, status.Content.Length - start)).ToArray());
    }

    public FuseReply Write(FuseCaller caller, ulong inode, ulong handle) => FuseReply.Fail(Errno.EINVAL);

    // ---- ioctl ----

    public FuseReply Ioctl(FuseCaller caller, ulong inode, ulong handle, uint request, ulong argument, bool compat)
    {
        if (!_openFiles.TryGetValue(handle, out OpenFile? file))
            return FuseReply.Fail(Errno.EBADF);
        // Spec §2.4: no compat_ioctl, so a 32-bit caller gets ENOTTY for everything.
        if (compat)
            return FuseReply.Fail(Errno.ENOTTY);

        if (file is DeviceFile or SessionFile && Orchestrator.Frozen)
            return FuseReply.Hold;

        using var process = new CallerProcess(caller.ThreadId);
        Session? session = (file as SessionFile)?.Session;
        if (request == Envelope.Request && Envelope.TryRead(process, argument) is { } envelope)
        {
            string name = envelope.Phase switch
            {
                Envelope.PhaseFreeze => "REBOOT_FREEZE",
                Envelope.PhaseRestart => "REBOOT_RESTART",
                _ => LuoRequest.NameOf(envelope.CallerRequest),
            };
            using (LogContext.Push(new RequestProperties(caller.ThreadId, name)))
                return file is ControlFile ? HandleControl(caller, process, envelope, argument) : HandleEnvelope(process, session, envelope, argument);
        }
        if (file is ControlFile or StatusFile)
            return FuseReply.Fail(Errno.ENOTTY);
        using (LogContext.Push(new RequestProperties(caller.ThreadId, LuoRequest.NameOf(request))))
        {
            IoctlOutcome outcome = dispatcher.Dispatch(session, request, argument, new RequestContext(process, process, NoFdReservation.Instance));
            Trace(request, session, outcome);
            if (outcome.Result == Errno.EOPNOTSUPP && outcome.Request is not null && outcome.Pending is null && IsFdReturning(request))
                _log.Warning("{Request} from pid {Pid} needs the preload library to return an fd and got EOPNOTSUPP: run the program as `liveupdatefs run -- PROGRAM`, or set LD_PRELOAD to artifacts/lib/libliveupdate-preload.so",
                    LuoRequest.NameOf(request), caller.ThreadId);
            return Reply(outcome.Result);
        }
    }

    /// <summary>The caller's pid and the request's name on every log line of
    /// the request. One LogContext push for both, where two PushProperty calls
    /// cost two ExecutionContext changes and their allocations on every ioctl;
    /// the properties themselves are made only when a line is written.</summary>
    private sealed class RequestProperties(int pid, string request) : ILogEventEnricher
    {
        public void Enrich(LogEvent logEvent, ILogEventPropertyFactory propertyFactory)
        {
            // Request first, then Pid: the order the two nested pushes gave.
            logEvent.AddPropertyIfAbsent(new LogEventProperty("Request", new ScalarValue(request)));
            logEvent.AddPropertyIfAbsent(new LogEventProperty("Pid", new ScalarValue(pid)));
        }
    }

    private static bool IsFdReturning(uint request) =>
        request is LuoRequest.CreateSession or LuoRequest.RetrieveSession or LuoRequest.RetrieveFd;

    private FuseReply HandleEnvelope(CallerProcess process, Session? session, Envelope envelope, ulong address)
    {
        Errno result = envelope.Phase switch
        {
            Envelope.PhasePrepare => Prepare(process, session, envelope),
            Envelope.PhaseCommit => Commit(process, envelope),
            _ => Errno.EINVAL,
        };
        if (!envelope.Answer(process, address))
        {
            // The library's own stack went away: undo what PREPARE left waiting.
            if (envelope.Phase == Envelope.PhasePrepare && !result.IsError && _tickets.ContainsKey(envelope.Ticket))
                DropTicket(envelope.Ticket).Pending.Abort();
            return FuseReply.Fail(Errno.EFAULT);
        }
        return Reply(result);
    }

    private Errno Prepare(CallerProcess process, Session? session, Envelope envelope)
    {
        var reservation = new LibraryFdReservation(new Errno(envelope.ReserveErrno));
        IoctlOutcome outcome = dispatcher.Dispatch(session, envelope.CallerRequest, envelope.CallerArgument, new RequestContext(process, process, reservation));
        Trace(envelope.CallerRequest, session, outcome);
        if (outcome.Result.IsError || outcome.Pending is not { } pending)
            return outcome.Result;

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
        if (ProcessPin.Of(process.ProcessId) is not { } requester)
        {
            pending.Abort(); // the requester is gone: nobody can take the fd
            return Errno.ESRCH;
        }
        ulong ticket = ++_nextTicket;
        var entry = new Ticket(pending, requester);
        _tickets.Add(ticket, entry);
        // Dropped as soon as the requester exits without completing (README
        // "What a reboot hands over"): its session is never handed over.
        entry.ExitWatch = _exits.Add(requester, () => _loop?.Post(() => DropIfAbandoned(ticket)));
        envelope.Ticket = ticket;
        envelope.SetNodeName(pending.Session is null ? "" : SessionNodeName(ticket));
        return Errno.None;
    }

    /// <summary>A library that died between PREPARE and COMMIT leaves a ticket
    /// no one will complete: undo it as the kernel undoes a dropped fd. Runs
    /// on the FUSE thread when the requester's pidfd turns readable.</summary>
    private void DropIfAbandoned(ulong id)
    {
        if (!_tickets.TryGetValue(id, out Ticket? ticket) || !ticket.Requester.HasExited)
            return;
        _log.Warning("Process {Pid} died before taking the fd of its {Request}; the result is undone",
            ticket.Requester.Pid, ticket.Pending.Request.Command.Name);
        DropTicket(id).Pending.Abort();
    }

    /// <summary>Removes a ticket and its exit watch; the caller completes or aborts its result.</summary>
    private Ticket DropTicket(ulong id)
    {
        _tickets.Remove(id, out Ticket? ticket);
        _exits.Cancel(ticket!.ExitWatch);
        ticket.Dispose();
        return ticket;
    }

    private static Errno SendToCaller(CallerProcess process, int channelFd, HeldFile file)
    {
        Errno taken = process.TakeDescriptor(channelFd, out SafeFd? channel);
        if (taken.IsError)
            return taken;
        using (channel)
            return UnixRights.Send(channel!, file.Fd);
    }

    private Errno Commit(CallerProcess process, Envelope envelope)
    {
        if (!_tickets.TryGetValue(envelope.Ticket, out Ticket? ticket) || !ticket.Requester.Is(process.ProcessId))
            return Errno.EINVAL;
        DropTicket(envelope.Ticket);
        if (envelope.InstallErrno != 0)
        {
            ticket.Pending.Abort();
            return envelope.InstallErrno is > 0 and < 512 ? new Errno(envelope.InstallErrno) : Errno.EIO;
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

    private FuseReply HandleControl(FuseCaller caller, CallerProcess process, Envelope envelope, ulong address)
    {
        Errno result = envelope.Phase switch
        {
            Envelope.PhaseQueryFrozen => QueryFrozen(process, envelope),
            Envelope.PhaseFreeze or Envelope.PhaseRestart when RebootRefusal(caller) is { } refused => refused,
            Envelope.PhaseFreeze => FreezeForReboot(reboots!, process, envelope),
            Envelope.PhaseRestart => Restart(reboots!, process),
            _ => Errno.EINVAL,
        };
        return envelope.Answer(process, address) ? Reply(result) : FuseReply.Fail(Errno.EFAULT);
    }

    /// <summary>Spec §8.2 for the library's ftruncate/fallocate wrappers: EPERM while frozen.</summary>
    private Errno QueryFrozen(CallerProcess process, Envelope envelope)
    {
        Errno result = process.Take(envelope.ChannelFd, out IHeldFile? file);
        if (result.IsError)
            return result;
        using (file)
            return Orchestrator.IsFrozen(file!.Facts.Identity) ? Errno.EPERM : Errno.None;
    }

    /// <summary>
    /// `liveupdatefs reboot`'s freeze (spec §7 step 1). Runs on the FUSE
    /// thread, so every other LUO caller waits meanwhile; afterwards they are
    /// held until the restart (then ENOTCONN: the "machine" went down) or a
    /// thaw (then they are served). Allowed by <see cref="RebootRefusal"/>.
    /// ESTALE when the caller names a boot that is not this one (it read
    /// status.json before another reboot): two reboot commands started
    /// together give one reboot, never two.
    /// </summary>
    private Errno FreezeForReboot(RebootStateMachine machine, CallerProcess process, Envelope envelope)
    {
        if (envelope.CallerArgument != 0 && envelope.CallerArgument != BootId)
        {
            _log.Warning("Reboot requested by pid {Pid} for boot {Expected:x16} refused with ESTALE: this is boot {Boot}; nothing changed",
                process.ProcessId, envelope.CallerArgument, daemon?.Boot);
            return Errno.ESTALE;
        }
        RebootMode? mode = envelope.CallerRequest switch
        {
            (uint)Envelope.FreezeInPlace => RebootMode.InPlace,
            (uint)Envelope.FreezeDurable => RebootMode.Durable,
            _ => null,
        };
        if (mode is null)
            return Errno.EINVAL;
        SafeFd? terminal = null;
        if (envelope.ChannelFd >= 0 && process.TakeDescriptor(envelope.ChannelFd, out terminal).IsError)
            terminal = null;
        if (ProcessPin.Of(process.ProcessId) is not { } client)
            return Errno.ESRCH;
        using (terminal)
        using (TextWriter? progress = terminal is null ? null : TerminalWriter.Over(terminal))
        {
            _log.Information("Reboot ({Mode}) requested by pid {Pid}: freezing the outgoing sessions", mode, process.ProcessId);
            bool underWay = machine.Phase != RebootPhase.Serving;
            Errno result = machine.Freeze(mode.Value, client, progress, out HandoverSummary summary);
            envelope.SetFreezeSummary(summary.Sessions, summary.Files, summary.Bytes);
            if (underWay)
                envelope.SetRebootUnderWay();
            if (!result.IsError)
                _exits.Add(process.ProcessId, machine.FreezeTimeout, () => _loop?.Post(() => ThawIfAbandoned(machine)));
            return result;
        }
    }

    /// <summary>The boot id of status.json as a number (0 when unknown).</summary>
    private ulong BootId => ulong.TryParse(daemon?.Boot, System.Globalization.NumberStyles.AllowHexSpecifier, null, out ulong id) ? id : 0;

    /// <summary>The freeze's client ended or its time is up: the boot serves again.</summary>
    private void ThawIfAbandoned(RebootStateMachine machine)
    {
        if (machine.ThawIfAbandoned())
            _loop?.ReplayHeld();
    }

    /// <summary>Who may reboot (both requests of `liveupdatefs reboot`): root
    /// or the daemon's own user (reboot(2) needs CAP_SYS_BOOT; EPERM
    /// otherwise), and only a daemon that can reboot (EOPNOTSUPP); null: allowed.</summary>
    private Errno? RebootRefusal(FuseCaller caller)
    {
        if (caller.Uid != 0 && caller.Uid != ProcessControl.EffectiveUid)
            return Errno.EPERM;
        return reboots is null ? Errno.EOPNOTSUPP : null;
    }

    /// <summary>`liveupdatefs reboot` after its freeze and the end of the
    /// holders: the image is committed, and this boot ends once the answer is
    /// out. A failed commit thaws the boot: the held callers are served.</summary>
    private Errno Restart(RebootStateMachine machine, CallerProcess process)
    {
        _log.Information("Restart into the next boot requested by pid {Pid}", process.ProcessId);
        Errno result = machine.Restart(process.ProcessId);
        if (machine.Phase == RebootPhase.Committed)
            _loop?.Stop();
        else if (machine.Phase == RebootPhase.Serving)
            _loop?.Post(() => _loop.ReplayHeld());
        return result;
    }

    /// <summary>The debug trace: every request with its decoded struct (as
    /// written back, where it was) and its result.</summary>
    private void Trace(uint request, Session? session, IoctlOutcome outcome)
    {
        if (!_log.IsEnabled(LogEventLevel.Debug))
            return;
        _log.Debug("{Request:l} on {File:l} {Struct:l} -> {Result:l}", LuoRequest.NameOf(request),
            session is null ? "/dev/liveupdate" : $"session {session.Name}",
            outcome.Request is { } decoded ? LuoStructs.Describe(decoded) : "(not decoded)", outcome.Result.Name);
    }

    private static FuseReply Reply(Errno result) => result.IsError ? FuseReply.Fail(result) : FuseReply.IoctlDone;

    private ulong Add(OpenFile file)
    {
        ulong handle = ++_nextHandle;
        _openFiles.Add(handle, file);
        return handle;
    }

    private static string SessionNodeName(ulong ticket) => $"{Envelope.SessionNodePrefix}{ticket:x}";

    private byte[] RenderStatus()
    {
        DaemonFacts facts = daemon ?? DaemonFacts.Unknown;
        var nodes = _openFiles.Values.OfType<SessionFile>().GroupBy(f => f.Session.Id).ToDictionary(g => g.Key, g => g.First().Node);
        // No open device or session file: nobody can hold one, and the /proc scan is skipped
        // (status.json is what `mount` polls until the daemon serves).
        bool anyHeld = _openFiles.Values.Any(f => f is DeviceFile or SessionFile);
        var holders = anyHeld && facts.Mountpoint is { } mountpoint ? EmulatorFdHolders.ByNode(mountpoint) : [];
        return StatusJson.Render(Orchestrator.Snapshot(), facts, nodes, holders, (reboots?.Phase ?? RebootPhase.Serving).ToString().ToLowerInvariant());
    }

    private static bool TryParseSessionNode(string name, out ulong ticket)
    {
        ticket = 0;
        return name.StartsWith(Envelope.SessionNodePrefix, StringComparison.Ordinal)
            && ulong.TryParse(name.AsSpan(Envelope.SessionNodePrefix.Length), System.Globalization.NumberStyles.AllowHexSpecifier, null, out ticket);
    }
}
