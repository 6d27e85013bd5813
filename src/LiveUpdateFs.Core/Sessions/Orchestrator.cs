using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Core.Reboot;
using LiveUpdateFs.Uapi;
using Serilog;
using Serilog.Events;

namespace LiveUpdateFs.Core.Sessions;

/// <summary>
/// The state of one boot of LUO: the device's single-open flag, the outgoing
/// and incoming session lists, and the global table of preserved files.
/// Each method is one command step of docs/behaviour.md §3-§5, in the kernel's order.
/// Thread-safe: one lock, held for the whole of each operation.
/// </summary>
public sealed class Orchestrator
{
    /// <summary>[v7.2] 10000 blocks of 51 session records (docs/behaviour.md §5.3).</summary>
    public const int MaxSessions = 510_000;

    /// <summary>[v7.2] 10000 blocks of 63 file records (docs/behaviour.md §5.3).</summary>
    public const int MaxFilesPerSession = 630_000;

    private readonly object _lock = new();
    private readonly IReadOnlyList<IFileHandler> _handlers;
    private readonly ILogger _log;
    private readonly IIncomingSource _incomingSource;
    private readonly List<Session> _outgoing = [];
    private readonly Dictionary<SessionName, Session> _outgoingByName = [];
    private readonly List<Session> _incoming = [];
    private readonly Dictionary<FileIdentity, PreservedEntry> _preservedFiles = [];
    private long _nextSessionId;
    private bool _deviceInUse;
    private Errno? _deserialized;
    private bool _frozen;
    private readonly List<Session> _releasedWhileFrozen = [];

    private readonly record struct PreservedEntry(Session Session, ulong Token, bool Frozen);

    public Orchestrator(IReadOnlyList<IFileHandler> handlers, ILogger log, IIncomingSource? incoming = null)
    {
        _handlers = handlers;
        _log = log.ForContext<Orchestrator>();
        _incomingSource = incoming ?? NoIncomingSessions.Instance;
    }

    // ---- /dev/liveupdate (docs/behaviour.md §3) ----

    /// <summary>
    /// Open of the device: the atomic 0→1 of the in_use flag (EBUSY), then,
    /// on the first open of this boot, the deserialization of the incoming
    /// sessions. Its result is kept: after a failure every open is EIO.
    /// Only a failure to record the handover as consumed is not kept.
    /// </summary>
    public Errno OpenDevice()
    {
        lock (_lock)
        {
            if (_deviceInUse)
                return Errno.EBUSY;
            _deserialized ??= DeserializeLocked();
            if (_deserialized is not { } deserialized)
                return Errno.EIO;
            if (deserialized.IsError)
                return deserialized;
            _deviceInUse = true;
            return Errno.None;
        }
    }

    /// <returns>The result every later open gets; null when the handover
    /// could not be marked consumed, which decided nothing: the next open
    /// deserializes again.</returns>
    private Errno? DeserializeLocked()
    {
        Errno loaded = _incomingSource.Load(out IReadOnlyList<IncomingSessionImage> sessions);
        if (loaded.IsError)
            return Errno.EIO;
        foreach (IncomingSessionImage image in sessions)
        {
            // docs/behaviour.md §3: a file whose compatible no handler knows fails the whole deserialization.
            if (image.Files.FirstOrDefault(f => !_handlers.Any(h => h.Compatible == f.Compatible)) is { } unknown)
            {
                _log.Error("Incoming session {Session} has token {Token} with compatible {Compatible}, which no file handler of this daemon knows; every open of the device fails with EIO. The store was written by another version: move it aside to boot cold",
                    image.Name.ToString(), unknown.Token, unknown.Compatible);
                return Errno.EIO;
            }
        }
        // Before the open can succeed: a crash of this boot from here on must not hand the sessions over again.
        if (_incomingSource.MarkConsumed().IsError)
            return null;
        foreach (IncomingSessionImage image in sessions)
            AddIncomingLocked(image);
        if (sessions.Count > 0)
            _log.Information("First open of the device: {Sessions} incoming sessions with {Files} files handed over by the previous boot",
                sessions.Count, sessions.Sum(s => s.Files.Count));
        return Errno.None;
    }

    /// <summary>Release of the device's open file: only the flag; sessions stay.</summary>
    public void ReleaseDevice()
    {
        lock (_lock)
            _deviceInUse = false;
    }

    // ---- CREATE_SESSION (docs/behaviour.md §4.1 steps 2-5) ----

    public Errno CreateSession(ReadOnlySpan<byte> nameField, out Session? session)
    {
        session = null;
        // [v7.2] An empty or unterminated name is EINVAL; bytes after the NUL are ignored.
        SessionName? name = SessionName.FromField(nameField);
        if (name is null || name.Bytes.IsEmpty)
            return Errno.EINVAL;

        lock (_lock)
        {
            if (_outgoing.Count >= MaxSessions)
                return Errno.ENOSPC;
            if (_outgoingByName.ContainsKey(name))
                return Errno.EEXIST;
            session = new Session(++_nextSessionId, name, SessionKind.Outgoing);
            _outgoing.Add(session);
            _outgoingByName.Add(name, session);
        }
        // Debug, as the request trace: a program may create and close
        // sessions by the thousand, and two lines each at Information cost
        // the daemon a quarter of its time per CREATE_SESSION. Asked first:
        // the escaped name is made only for a line that is written.
        if (_log.IsEnabled(LogEventLevel.Debug))
            _log.Debug("Session {Session} created (outgoing, id {SessionId})", name.ToString(), session.Id);
        return Errno.None;
    }

    /// <summary>The session's fd now exists in its creator (the fd hand-over
    /// completed): from now on a reboot hands the session over.</summary>
    public void SessionHeld(Session session)
    {
        lock (_lock)
            session.Held = true;
    }

    // ---- RETRIEVE_SESSION (docs/behaviour.md §4.2 steps 3-5) ----

    public Errno RetrieveSession(ReadOnlySpan<byte> nameField, out Session? session)
    {
        session = null;
        // No length validation here: an unterminated name simply matches nothing.
        SessionName? name = SessionName.FromField(nameField);
        lock (_lock)
        {
            Session? found = name is null ? null : _incoming.Find(s => s.Name.Equals(name));
            if (found is null)
                return Errno.ENOENT;
            if (found.Retrieved)
                return Errno.EINVAL;
            found.Retrieved = true;
            session = found;
        }
        _log.Information("Session {Session} retrieved (incoming, {Files} files)", session.Name.ToString(), session.Incoming.Count);
        return Errno.None;
    }

    // ---- PRESERVE_FD (docs/behaviour.md §4.3 steps 2-9) ----

    public Errno Preserve(Session session, ulong token, int fd, ICallerFiles callerFiles)
    {
        lock (_lock)
        {
            if (session.Gone)
                return Errno.EINVAL;
            if (session.HasToken(token))
                return Errno.EEXIST;
            if (session.Preserved.Count >= MaxFilesPerSession)
                return Errno.ENOSPC;

            Errno taken = callerFiles.Take(fd, out IHeldFile? file);
            if (taken.IsError)
                return taken;

            FileFacts facts = file!.Facts;
            IFileHandler? handler = _handlers.FirstOrDefault(h => h.CanPreserve(facts));
            if (handler is null)
            {
                file.Dispose();
                return Errno.ENOENT;
            }
            if (_preservedFiles.ContainsKey(facts.Identity))
            {
                file.Dispose();
                return Errno.EBUSY;
            }
            Errno preserved = handler.Preserve(file);
            if (preserved.IsError)
            {
                file.Dispose();
                return preserved;
            }
            session.Add(new PreservedFile(token, handler, file));
            _preservedFiles.Add(facts.Identity, new PreservedEntry(session, token, Frozen: true));
        }
        _log.Information("Preserved token {Token} in session {Session}", token, session.Name.ToString());
        return Errno.None;
    }

    /// <summary>docs/behaviour.md §8.2: a preserved memfd's size is frozen until it is unpreserved.</summary>
    public bool IsFrozen(FileIdentity identity)
    {
        lock (_lock)
            return _preservedFiles.TryGetValue(identity, out PreservedEntry entry) && entry.Frozen;
    }

    // ---- RETRIEVE_FD (docs/behaviour.md §4.4 steps 3-4) ----

    /// <summary>The file <see cref="RetrieveFile"/> would have to restore
    /// slowly (docs/blocking.md), or null when it would answer at once.</summary>
    public IRestorableFile? SlowRestore(Session session, ulong token)
    {
        lock (_lock)
        {
            IncomingFile? incoming = session.FindIncoming(token);
            return incoming is { Retrieved: null, FailedWith.IsError: false } && incoming.Source.RestoreIsSlow ? incoming.Source : null;
        }
    }

    public Errno RetrieveFile(Session session, ulong token, out IHeldFile? file)
    {
        file = null;
        lock (_lock)
        {
            IncomingFile? incoming = session.FindIncoming(token);
            if (incoming is null)
                return Errno.ENOENT;
            if (incoming.FailedWith.IsError)
                return incoming.FailedWith;
            if (incoming.Retrieved is null)
            {
                Errno restored = incoming.Source.Restore(out IHeldFile? held);
                if (restored.IsError)
                {
                    incoming.FailedWith = restored;
                    _log.Warning("Retrieve of token {Token} in session {Session} failed with {Errno}; the failure is permanent (docs/behaviour.md §4.4)",
                        token, session.Name.ToString(), restored.Name);
                    return restored;
                }
                incoming.Retrieved = held;
                // An in-place retrieve reopens the kept inode; a process that
                // survived the reboot may have preserved that inode again in
                // an outgoing session: its preservation stays as it is.
                _preservedFiles.TryAdd(held!.Facts.Identity, new PreservedEntry(session, token, Frozen: false));
            }
            file = incoming.Retrieved;
        }
        return Errno.None;
    }

    // ---- FINISH (docs/behaviour.md §4.5 steps 3-4) ----

    public Errno Finish(Session session)
    {
        int count;
        lock (_lock)
            count = FinishLocked(session);
        _log.Information("Session {Session} finished ({Files} files released)", session.Name.ToString(), count);
        return Errno.None;
    }

    private int FinishLocked(Session session)
    {
        List<IncomingFile> files = session.TakeIncomingNewestFirst();
        foreach (IncomingFile file in files)
        {
            if (file.Retrieved is { } held)
            {
                // The caller's fds stay valid; LUO only drops its own reference
                // (and its table entry, unless the inode is another session's).
                if (_preservedFiles.TryGetValue(held.Facts.Identity, out PreservedEntry entry) && entry.Session == session)
                    _preservedFiles.Remove(held.Facts.Identity);
                held.Dispose();
            }
            else if (!file.FailedWith.IsError)
            {
                file.Source.Discard();
            }
        }
        return files.Count;
    }

    // ---- last close of a session fd (docs/behaviour.md §5.2) ----

    public void ReleaseSession(Session session)
    {
        int files;
        lock (_lock)
        {
            if (session.Gone)
                return;
            // [v7.2] after a successful reboot serialization the release waits
            // (the kernel blocks it for good): nothing may change what is being
            // handed over. If the reboot is called off (Thaw) it happens then.
            if (_frozen)
            {
                _releasedWhileFrozen.Add(session); // one release per open file, so once
                return;
            }
            session.Gone = true;
            if (session.Kind == SessionKind.Outgoing)
            {
                _outgoing.Remove(session);
                _outgoingByName.Remove(session.Name);
                List<PreservedFile> preserved = session.TakePreservedNewestFirst();
                foreach (PreservedFile file in preserved)
                {
                    file.Handler.Unpreserve(file.File);
                    _preservedFiles.Remove(file.File.Facts.Identity);
                    file.File.Dispose();
                }
                files = preserved.Count;
            }
            else
            {
                files = FinishLocked(session);
                _incoming.Remove(session);
            }
        }
        // An empty outgoing session leaves nothing behind: Debug, as its creation.
        LogEventLevel level = session.Kind == SessionKind.Outgoing && files == 0 ? LogEventLevel.Debug : LogEventLevel.Information;
        if (_log.IsEnabled(level))
            _log.Write(level, "Session {Session} closed: {Kind} session discarded with {Files} files", session.Name.ToString(), session.Kind, files);
    }

    // ---- the reboot (docs/behaviour.md §7 step 1) ----

    /// <summary>True once a reboot serialization succeeded: this boot is over.</summary>
    public bool Frozen
    {
        get
        {
            lock (_lock)
                return _frozen;
        }
    }

    /// <summary>
    /// Serializes every outgoing session whose fd is open, in creation order,
    /// its files in preservation order, into <paramref name="image"/>, and
    /// prepares it. Any failure aborts the image and changes nothing here: the
    /// boot goes on. Success freezes this orchestrator until <see cref="Thaw"/>
    /// (the reboot called off) or for good (the next boot starts).
    /// </summary>
    public Errno Freeze(IHandoverImage image, out HandoverSummary summary)
    {
        summary = default;
        lock (_lock)
        {
            if (_frozen)
                return Errno.EBUSY;
            Errno result = SerializeLocked(image, out summary);
            if (result.IsError)
                return result;
            _frozen = true;
        }
        _log.Information("Reboot serialization done: {Sessions} sessions, {Files} files, {Bytes} bytes handed over; this boot is frozen",
            summary.Sessions, summary.Files, summary.Bytes);
        return Errno.None;
    }

    /// <summary>
    /// Calls off a reboot after a successful freeze (its image is dropped by
    /// the caller): the boot goes on as if the freeze had failed (docs/behaviour.md §7: a
    /// failed reboot leaves every session intact). Session fds released
    /// meanwhile are released now, in the order they were closed.
    /// </summary>
    public void Thaw()
    {
        List<Session> released;
        lock (_lock)
        {
            if (!_frozen)
                return;
            _frozen = false;
            released = [.. _releasedWhileFrozen];
            _releasedWhileFrozen.Clear();
        }
        _log.Information("The reboot was called off: this boot is thawed and serves again; {Released} session fds closed meanwhile are released now",
            released.Count);
        foreach (Session session in released)
            ReleaseSession(session);
    }

    /// <summary>
    /// The same serialization once more, of a boot that is already frozen:
    /// an in-place handover that cannot continue (the daemon is stopped
    /// instead of restarted) is written again into a durable image.
    /// </summary>
    public Errno Reserialize(IHandoverImage image, out HandoverSummary summary)
    {
        summary = default;
        lock (_lock)
            return _frozen ? SerializeLocked(image, out summary) : Errno.EINVAL;
    }

    private Errno SerializeLocked(IHandoverImage image, out HandoverSummary summary)
    {
        summary = default;
        int files = 0;
        long bytes = 0;
        int sessions = 0;
        // Only sessions whose fd exists: one whose creator died before it took
        // the fd was never created as far as any process can tell (the
        // kernel's CREATE_SESSION installs the fd before it returns).
        List<Session> handedOver = _outgoing.Where(s => s.Held).ToList();
        Errno begun = image.Begin(handedOver.SelectMany(s => s.Preserved).ToList());
        if (begun.IsError)
        {
            _log.Error("Reboot aborted: the files could not be held still for the freeze ({Errno}); nothing was handed over and this boot goes on", begun.Name);
            image.Abort();
            return begun;
        }
        foreach (Session session in handedOver)
        {
            sessions++;
            image.AddSession(session.Name);
            foreach (PreservedFile file in session.Preserved)
            {
                Errno added = image.AddFile(file);
                if (added.IsError)
                {
                    _log.Error("Reboot aborted: token {Token} of session {Session} could not be frozen ({Errno}); nothing was handed over and this boot goes on",
                        file.Token, session.Name.ToString(), added.Name);
                    image.Abort();
                    return added;
                }
                files++;
                bytes += file.File.Facts.Size;
            }
        }
        Errno prepared = image.Prepare();
        if (prepared.IsError)
        {
            _log.Error("Reboot aborted: the handover image could not be completed ({Errno}); the previous one stays and this boot goes on", prepared.Name);
            image.Abort();
            return prepared;
        }
        summary = new HandoverSummary(sessions, files, bytes);
        return Errno.None;
    }

    // ---- the new boot ----

    public Session AddIncoming(IncomingSessionImage image)
    {
        lock (_lock)
            return AddIncomingLocked(image);
    }

    private Session AddIncomingLocked(IncomingSessionImage image)
    {
        var session = new Session(++_nextSessionId, image.Name, SessionKind.Incoming);
        foreach (IncomingFileImage file in image.Files)
            session.Add(new IncomingFile(file.Token, file.Compatible, file.Source));
        _incoming.Add(session);
        return session;
    }

    // ---- status ----

    public OrchestratorSnapshot Snapshot()
    {
        lock (_lock)
        {
            static SessionSnapshot Of(Session s) => new(
                s.Id, s.Name.ToString(), s.Kind == SessionKind.Outgoing ? "outgoing" : s.Retrieved ? "retrieved" : "incoming",
                s.Kind == SessionKind.Outgoing
                    ? s.Preserved.Select(f => new FileSnapshot(f.Token, f.Handler.Compatible, f.File.Facts.Size, "preserved")).ToList()
                    : s.Incoming.Select(f => new FileSnapshot(f.Token, f.Compatible, f.Retrieved?.Facts.Size ?? f.Source.Size,
                        f.FailedWith.IsError ? $"failed ({f.FailedWith.Name})" : f.Retrieved is null ? "waiting" : "retrieved")).ToList());
            return new OrchestratorSnapshot(_deviceInUse, _frozen, IncomingLoaded: _deserialized is not null, _outgoing.Select(Of).Concat(_incoming.Select(Of)).ToList());
        }
    }
}
