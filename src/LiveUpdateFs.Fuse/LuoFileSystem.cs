using LiveUpdateFs.Core.Dispatch;
using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Core.Reboot;
using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Fuse.Callers;
using LiveUpdateFs.Fuse.OpenFiles;
using LiveUpdateFs.Fuse.Status;
using LiveUpdateFs.Fuse.Trapped;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;
using Serilog;
using Serilog.Context;

namespace LiveUpdateFs.Fuse;

/// <summary>
/// The FUSE face of the orchestrator: the nodes and what each open file may
/// do. Each node does its own job only (docs/behaviour.md §11): device
/// and session files take LUO requests and the fd hand-over
/// (<see cref="FdHandover"/>), the control node takes the library's and the
/// reboot command's envelopes (<see cref="ControlRequests"/>), status.json
/// and .lufs-daemon are read-only files. Runs on the single FUSE thread and
/// never waits on anything a caller controls (docs/blocking.md).
/// </summary>
/// <param name="reboots">Owns the reboot (FREEZE, RESTART); null: reboots are refused (EOPNOTSUPP).</param>
/// <param name="daemon">What status.json says about the daemon.</param>
/// <param name="access">Who may open the device; default 0600, the daemon's group.</param>
public sealed class LuoFileSystem : IFuseFileSystem, IDisposable
{
    private readonly Orchestrator _orchestrator;
    private readonly LuoDispatcher _dispatcher;
    private readonly ILogger _log;
    private readonly RebootStateMachine? _reboots;
    private readonly DaemonFacts _daemon;
    private readonly LuoNodes _nodes;
    private readonly ExitWatcher _exits = new();
    private readonly MappingGuard _mappings;
    private readonly TakenFiles _takenFiles;
    private readonly FdHandover _handover;
    private readonly ControlRequests _control;
    private readonly Dictionary<ulong, OpenFile> _openFiles = [];
    /// <summary>Session files by node inode: a trapped call names its file by inode (<see cref="TrappedCalls"/>).</summary>
    private readonly Dictionary<ulong, SessionFile> _sessionFiles = [];
    private readonly TimeSpan _trapPause;
    private TrapListeners? _listeners;
    private SlowWork? _restores;
    private TailScans? _tails;
    private ulong _nextHandle;
    private FuseRequestCounts _requests = new();

    /// <param name="trapPause">Test-only: how long a trapped request waits before its fd is installed (LIVEUPDATEFS_TEST_TRAP_PAUSE_MS).</param>
    public LuoFileSystem(Orchestrator orchestrator, LuoDispatcher dispatcher, ILogger log, RebootStateMachine? reboots = null,
        DaemonFacts? daemon = null, NodeAccess? access = null, TimeSpan trapPause = default)
    {
        _trapPause = trapPause;
        _orchestrator = orchestrator;
        _dispatcher = dispatcher;
        _log = log.ForContext<LuoFileSystem>();
        _reboots = reboots;
        _daemon = daemon ?? DaemonFacts.Unknown;
        _nodes = new LuoNodes(access ?? NodeAccess.Default);
        _mappings = new MappingGuard(_exits);
        _takenFiles = new TakenFiles(_daemon.Mountpoint);
        _handover = new FdHandover(_exits, log);
        _control = new ControlRequests(orchestrator, reboots, _daemon.Boot, _exits, log);
    }

    /// <summary>The loop that serves this file system: news from other
    /// threads (a requester's or the reboot client's exit, a finished tail
    /// scan) reach the state through it, and it answers held requests.</summary>
    public void Attach(IFuseLoop loop)
    {
        _requests = loop.Requests;
        _handover.Attach(loop);
        _control.Attach(loop);
        // Two workers: callers' tail scans (any caller can ask for many) never
        // delay the restores of others' RETRIEVE_FDs.
        _restores = new SlowWork(loop);
        _tails = new TailScans(new SlowWork(loop));
        _listeners = new TrapListeners(new TrappedCalls(this, loop, _daemon.Mountpoint ?? "", _exits, _log, _trapPause), _log);
        _control.AttachListeners(_listeners);
    }

    /// <summary>Serves seccomp listeners a previous boot of this daemon
    /// served (kept open across the reboot's exec; docs/seccomp.md).</summary>
    public void AdoptListeners(IEnumerable<(SafeFd Fd, uint Uid, int Pid)> listeners)
    {
        foreach ((SafeFd fd, uint uid, int pid) in listeners)
            _listeners?.Add(fd, uid, pid);
    }

    /// <summary>Stops serving the seccomp listeners and hands them over (for
    /// the next boot); empty when their thread did not stop in time.</summary>
    public IReadOnlyList<(SafeFd Fd, uint Uid, int Pid)> DetachListeners(TimeSpan bound) =>
        _listeners is null ? [] : _listeners.Detach(bound).Select(o => (o.Listener.Fd, o.Uid, o.Pid)).ToList();

    public void Dispose()
    {
        _listeners?.Dispose();
        _handover.Dispose();
        _mappings.Dispose();
        _exits.Dispose();
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
            LuoNodes.DaemonName => FuseReply.Entry(_nodes.DaemonAttributes),
            Envelope.ControlNode => FuseReply.Entry(_nodes.ControlAttributes),
            // Its attributes never change, so the kernel keeps the entry: a
            // later session on the same number is opened without a LOOKUP.
            _ when TryParseSessionNode(name, out uint node) && _handover.IsSessionNode(node)
                => FuseReply.Entry(_nodes.SessionAttributes(LuoNodes.SessionBase + node), lasting: true),
            _ => FuseReply.Fail(Errno.ENOENT),
        };
    }

    /// <summary>The root's and the session nodes' attributes never change: the
    /// kernel keeps them, so opening a session node needs no GETATTR for the
    /// permission checks (docs/fuse.md §8, §11).</summary>
    public FuseReply GetAttributes(FuseCaller caller, ulong inode) => inode switch
    {
        LuoNodes.Root => FuseReply.Attr(_nodes.RootAttributes, lasting: true),
        LuoNodes.Device => FuseReply.Attr(_nodes.DeviceAttributes),
        LuoNodes.Control => FuseReply.Attr(_nodes.ControlAttributes),
        LuoNodes.Status => FuseReply.Attr(_nodes.StatusAttributes),
        LuoNodes.Daemon => FuseReply.Attr(_nodes.DaemonAttributes),
        >= LuoNodes.SessionBase => FuseReply.Attr(_nodes.SessionAttributes(inode), lasting: true),
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
        // docs/behaviour.md §7: after a successful reboot serialization LUO blocks every caller until the "machine" goes down.
        if (inode is LuoNodes.Device or >= LuoNodes.SessionBase && _orchestrator.Frozen)
            return FuseReply.Hold;
        switch (inode)
        {
            case LuoNodes.Device:
                // docs/behaviour.md §3: single opener; the flag drops when the last copy is released.
                Errno opened = _orchestrator.OpenDevice();
                if (opened.IsError)
                {
                    _log.Debug("open of the device by pid {Pid} refused: {Errno}", caller.ThreadId, opened.Name);
                    return FuseReply.Fail(opened);
                }
                return FuseReply.Opened(Add(new DeviceFile()));
            case LuoNodes.Control:
                return FuseReply.Opened(Add(new ControlFile()));
            case LuoNodes.Status:
                return FuseReply.Opened(Add(new ContentFile(RenderStatus())));
            case LuoNodes.Daemon:
                return FuseReply.Opened(Add(new ContentFile(System.Text.Encoding.ASCII.GetBytes($"{Environment.ProcessId}\n"))));
            case >= LuoNodes.SessionBase:
                return OpenSessionNode(caller, inode);
            default:
                return FuseReply.Fail(Errno.EISDIR);
        }
    }

    /// <summary>The commit of a session's hand-over (<see cref="FdHandover.OpenSessionNode"/>):
    /// from now on the open file owns the session.</summary>
    private FuseReply OpenSessionNode(FuseCaller caller, ulong inode)
    {
        uint node = (uint)(inode - LuoNodes.SessionBase);
        Errno taken = _handover.OpenSessionNode(caller.ThreadId, node, out Session? session);
        if (taken.IsError)
            return FuseReply.Fail(taken);
        _orchestrator.SessionHeld(session!);
        var sessionFile = new SessionFile(session!, FdHandover.SessionNodeName(node));
        _sessionFiles[inode] = sessionFile;
        return FuseReply.Opened(Add(sessionFile));
    }

    public FuseReply Flush(FuseCaller caller, ulong inode, ulong handle) => FuseReply.Ok;

    public FuseReply Release(ulong inode, ulong handle)
    {
        if (!_openFiles.Remove(handle, out OpenFile? file))
            return FuseReply.Ok;
        switch (file)
        {
            case DeviceFile:
                _orchestrator.ReleaseDevice();
                break;
            case SessionFile { Session: var session }:
                _sessionFiles.Remove(inode);
                _orchestrator.ReleaseSession(session);
                _handover.NodeReleased((uint)(inode - LuoNodes.SessionBase));
                break;
        }
        return FuseReply.Ok;
    }

    public FuseReply Read(FuseCaller caller, ulong inode, ulong handle, long offset, int size)
    {
        if (!_openFiles.TryGetValue(handle, out OpenFile? file) || file is not ContentFile content)
            return FuseReply.Fail(Errno.EINVAL); // docs/behaviour.md §2.5: no read op on LUO files
        int start = (int)Math.Min(offset, content.Content.Length);
        return FuseReply.Bytes(content.Content.AsSpan(start, Math.Min(size, content.Content.Length - start)).ToArray());
    }

    public FuseReply Write(FuseCaller caller, ulong inode, ulong handle) => FuseReply.Fail(Errno.EINVAL);

    // ---- ioctl ----

    public FuseReply Ioctl(FuseCaller caller, ulong inode, ulong handle, uint request, ulong argument, bool compat)
    {
        if (!_openFiles.TryGetValue(handle, out OpenFile? file))
            return FuseReply.Fail(Errno.EBADF);
        // docs/behaviour.md §2.4: no compat_ioctl, so a 32-bit caller gets ENOTTY for everything.
        if (compat)
            return FuseReply.Fail(Errno.ENOTTY);
        return file switch
        {
            DeviceFile => LuoIoctl(caller, handle, null, request, argument),
            SessionFile { Session: var session } => LuoIoctl(caller, handle, session, request, argument),
            ControlFile when request == Envelope.Request => ControlIoctl(caller, argument),
            // A regular file's answer to an ioctl it does not know.
            _ => FuseReply.Fail(Errno.ENOTTY),
        };
    }

    private FuseReply ControlIoctl(FuseCaller caller, ulong argument)
    {
        using var process = new CallerProcess(caller.ThreadId, _mappings, _takenFiles);
        // The hand-over's phases belong to the device and session files: here
        // they are an ioctl this file does not know, unanswered, so the
        // library passes the caller's request on and it meets ENOTTY too.
        if (Envelope.TryRead(process, argument) is not { } envelope || envelope.Phase is Envelope.PhasePrepare or Envelope.PhaseCommit)
            return FuseReply.Fail(Errno.ENOTTY);
        using (LogContext.Push(new RequestProperties(caller.ThreadId, EnvelopeName(envelope))))
        {
            Errno result = _control.Handle(caller, process, envelope);
            return envelope.Answer(process, argument) ? Reply(result) : FuseReply.Fail(Errno.EFAULT);
        }
    }

    /// <summary>A LUO request on the device or a session fd: directly, or
    /// wrapped in the library's envelope (PREPARE/COMMIT of the fd hand-over).</summary>
    private FuseReply LuoIoctl(FuseCaller caller, ulong handle, Session? session, uint request, ulong argument)
    {
        if (_orchestrator.Frozen)
            return FuseReply.Hold;
        using var process = new CallerProcess(caller.ThreadId, _mappings, _takenFiles);
        if (request == Envelope.Request && Envelope.TryRead(process, argument) is { } envelope)
        {
            using (LogContext.Push(new RequestProperties(caller.ThreadId, EnvelopeName(envelope))))
                return HandoverIoctl(caller, handle, process, session, envelope, argument);
        }
        if (ShortHandover.IsPrepare(request, out uint sessionRequest, out int reservedFd) && _handover.Knows(caller.ThreadId))
        {
            using (LogContext.Push(new RequestProperties(caller.ThreadId, LuoRequest.NameOf(sessionRequest))))
            {
                if (Prepare(caller, handle, process, session, sessionRequest, argument, Errno.None, reservedFd, -1, out _, out uint? node) is not { } prepared)
                    return FuseReply.Hold;
                return prepared.IsError ? FuseReply.Fail(prepared) : FuseReply.IoctlReturns((int)node!.Value);
            }
        }
        if (ShortHandover.IsAbort(request, out Errno failed) && _handover.Knows(caller.ThreadId))
            return FuseReply.Fail(_handover.AbortSession(caller.ThreadId, (uint)argument, failed));
        if (MemoryFor(caller, handle, session, request, argument, process) is not { } memory)
            return FuseReply.Hold;
        using (LogContext.Push(new RequestProperties(caller.ThreadId, LuoRequest.NameOf(request))))
        {
            IoctlOutcome outcome = _dispatcher.Dispatch(session, request, argument, new RequestContext(memory, process, NoFdReservation.Instance));
            RequestTrace.Write(_log, request, session, outcome);
            if (outcome.WorkFirst is { } work)
                return RunFirst(work);
            if (outcome.Result == Errno.EOPNOTSUPP && outcome.Request is not null && outcome.Pending is null && IsFdReturning(request))
                _log.Warning("{Request} from pid {Pid} needs the preload library to return an fd and got EOPNOTSUPP: run the program as `liveupdatefs run -- PROGRAM`, or set LD_PRELOAD to artifacts/lib/libliveupdate-preload.so",
                    LuoRequest.NameOf(request), caller.ThreadId);
            return Reply(outcome.Result);
        }
    }

    private FuseReply HandoverIoctl(FuseCaller caller, ulong handle, CallerProcess process, Session? session, Envelope envelope, ulong address)
    {
        Errno result;
        switch (envelope.Phase)
        {
            case Envelope.PhasePrepare:
                if (Prepare(caller, handle, process, session, envelope.CallerRequest, envelope.CallerArgument, envelope.ReserveErrno,
                        envelope.InstalledFd, envelope.ChannelFd, out ulong ticket, out uint? node) is not { } prepared)
                    return FuseReply.Hold;
                result = prepared;
                envelope.Ticket = ticket;
                envelope.SetNodeName(node is { } number ? FdHandover.SessionNodeName(number) : "");
                break;
            case Envelope.PhaseCommit:
                result = _handover.Commit(caller.ThreadId, process, envelope);
                break;
            default:
                result = Errno.EINVAL; // the control node's phases are not taken here
                break;
        }
        if (envelope.Answer(process, address))
            return Reply(result);
        // The library's own stack went away: undo what PREPARE left waiting.
        if (envelope.Phase == Envelope.PhasePrepare && !result.IsError)
            _handover.Unanswered(envelope.Ticket);
        return FuseReply.Fail(Errno.EFAULT);
    }

    /// <summary>
    /// PREPARE of the fd hand-over, from the envelope or its short form: the
    /// request decoded and run as the kernel would, with the library's
    /// reserve step, and on success its result kept (<see cref="FdHandover.Keep"/>).
    /// Null: the request is held while a tail scan or a restore runs first.
    /// </summary>
    private Errno? Prepare(FuseCaller caller, ulong handle, CallerProcess process, Session? session, uint request, ulong argument,
        Errno libraryReserve, int reservedFd, int channelFd, out ulong ticket, out uint? node)
    {
        ticket = 0;
        node = null;
        if (MemoryFor(caller, handle, session, request, argument, process) is not { } memory)
            return null;
        var reservation = new KnownFdReservation(_handover.Reserve(caller.ThreadId, caller.Uid, libraryReserve));
        IoctlOutcome outcome = _dispatcher.Dispatch(session, request, argument, new RequestContext(memory, process, reservation));
        RequestTrace.Write(_log, request, session, outcome);
        if (outcome.WorkFirst is { } work)
        {
            RunFirst(work);
            return null;
        }
        return outcome.Result.IsError || outcome.Pending is not { } pending
            ? outcome.Result
            : _handover.Keep(process, caller.Uid, pending, reservedFd, channelFd, out ticket, out node);
    }

    /// <summary>The request waits (held) while <paramref name="work"/> runs on
    /// the worker; then it is handled again (docs/blocking.md).</summary>
    private FuseReply RunFirst(Action work)
    {
        (_restores ?? throw new InvalidOperationException("LuoFileSystem serves requests only after Attach")).Run(work);
        return FuseReply.Hold;
    }

    /// <summary>The caller's memory for decoding, or null while a long zero
    /// tail is scanned off this thread (<see cref="TailScans"/>).</summary>
    private ICallerMemory? MemoryFor(FuseCaller caller, ulong handle, Session? session, uint request, ulong argument, CallerProcess process) =>
        _tails is null ? process
            : _tails.MemoryFor(caller.ThreadId, handle, request, argument, process, () => _dispatcher.DeclaredTail(session, request, argument, process));

    // ---- trapped calls (seccomp; TrappedCalls runs these inside the loop's gate) ----

    internal bool Frozen => _orchestrator.Frozen;

    /// <summary>The LUO file a node inode of this mount is: the device
    /// (session null) or an open session file; false for any other node.</summary>
    internal bool TryLuoNode(ulong inode, out Session? session)
    {
        session = null;
        if (inode == LuoNodes.Device)
            return true;
        if (!_sessionFiles.TryGetValue(inode, out SessionFile? file))
            return false;
        session = file.Session;
        return true;
    }

    internal (ulong Start, ulong Length)? DeclaredTail(Session? session, uint request, ulong argument, ICallerMemory memory) =>
        _dispatcher.DeclaredTail(session, request, argument, memory);

    internal IoctlOutcome DispatchTrapped(Session? session, uint request, ulong argument, RequestContext context)
    {
        IoctlOutcome outcome = _dispatcher.Dispatch(session, request, argument, context);
        RequestTrace.Write(_log, request, session, outcome);
        return outcome;
    }

    internal FdHandover Handover => _handover;

    /// <summary>docs/behaviour.md §8.2: is this file's size frozen by a preservation?</summary>
    internal bool IsFrozen(FileFacts facts) =>
        facts.FileSystem != FileSystemKind.Other && _orchestrator.IsFrozen(facts.Identity);

    private static string EnvelopeName(Envelope envelope) => envelope.Phase switch
    {
        Envelope.PhaseFreeze => "REBOOT_FREEZE",
        Envelope.PhaseRestart => "REBOOT_RESTART",
        Envelope.PhaseQueryFrozen => "QUERY_FROZEN",
        Envelope.PhaseServeListener => "SERVE_LISTENER",
        _ => LuoRequest.NameOf(envelope.CallerRequest),
    };

    private static bool IsFdReturning(uint request) =>
        request is LuoRequest.CreateSession or LuoRequest.RetrieveSession or LuoRequest.RetrieveFd;

    private static FuseReply Reply(Errno result) => result.IsError ? FuseReply.Fail(result) : FuseReply.IoctlDone;

    private ulong Add(OpenFile file)
    {
        ulong handle = ++_nextHandle;
        _openFiles.Add(handle, file);
        return handle;
    }

    /// <summary>status.json: the orchestrator's state and the session nodes
    /// in use, from memory only (who holds them is `status`'s own scan).</summary>
    private byte[] RenderStatus()
    {
        var nodes = _openFiles.Values.OfType<SessionFile>().GroupBy(f => f.Session.Id).ToDictionary(g => g.Key, g => g.First().Node);
        return StatusDocument.Of(_orchestrator.Snapshot(), _daemon, nodes, (_reboots?.Phase ?? RebootPhase.Serving).ToString().ToLowerInvariant(),
            _requests.Snapshot()).ToJson();
    }

    /// <summary>A session node's name, in the one spelling the daemon gives
    /// (no leading zeros): each node has one name, by which `status` finds
    /// its holders.</summary>
    private static bool TryParseSessionNode(string name, out uint node)
    {
        node = 0;
        return name.StartsWith(Envelope.SessionNodePrefix, StringComparison.Ordinal)
            && uint.TryParse(name.AsSpan(Envelope.SessionNodePrefix.Length), System.Globalization.NumberStyles.AllowHexSpecifier, null, out node)
            && name == FdHandover.SessionNodeName(node);
    }
}
