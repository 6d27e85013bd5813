using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Uapi;
using Serilog;

namespace LiveUpdateFs.Core.Sessions;

/// <summary>
/// The state of one boot of LUO: the device's single-open flag, the outgoing
/// and incoming session lists, and the global table of preserved files.
/// Each method is one command step of spec §3-§5, in the kernel's order.
/// Thread-safe: one lock, held for the whole of each operation.
/// </summary>
public sealed class Orchestrator
{
    /// <summary>[v7.2] 10000 blocks of 51 session records (spec §5.3).</summary>
    public const int MaxSessions = 510_000;

    /// <summary>[v7.2] 10000 blocks of 63 file records (spec §5.3).</summary>
    public const int MaxFilesPerSession = 630_000;

    private readonly object _lock = new();
    private readonly IReadOnlyList<IFileHandler> _handlers;
    private readonly ILogger _log;
    private readonly List<Session> _outgoing = [];
    private readonly Dictionary<SessionName, Session> _outgoingByName = [];
    private readonly List<Session> _incoming = [];
    private readonly Dictionary<FileIdentity, PreservedEntry> _preservedFiles = [];
    private long _nextSessionId;
    private bool _deviceInUse;

    private readonly record struct PreservedEntry(Session Session, ulong Token, bool Frozen);

    public Orchestrator(IReadOnlyList<IFileHandler> handlers, ILogger log)
    {
        _handlers = handlers;
        _log = log.ForContext<Orchestrator>();
    }

    // ---- /dev/liveupdate (spec §3) ----

    /// <summary>The atomic 0→1 of the device's in_use flag: false means EBUSY.</summary>
    public bool TryOpenDevice()
    {
        lock (_lock)
        {
            if (_deviceInUse)
                return false;
            _deviceInUse = true;
            return true;
        }
    }

    /// <summary>Release of the device's open file: only the flag; sessions stay.</summary>
    public void ReleaseDevice()
    {
        lock (_lock)
            _deviceInUse = false;
    }

    // ---- CREATE_SESSION (spec §4.1 steps 2-5) ----

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
        _log.Information("Session {Session} created (outgoing, id {SessionId})", name.ToString(), session.Id);
        return Errno.None;
    }

    // ---- RETRIEVE_SESSION (spec §4.2 steps 3-5) ----

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

    // ---- PRESERVE_FD (spec §4.3 steps 2-9) ----

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

    /// <summary>Spec §8.2: a preserved memfd's size is frozen until it is unpreserved.</summary>
    public bool IsFrozen(FileIdentity identity)
    {
        lock (_lock)
            return _preservedFiles.TryGetValue(identity, out PreservedEntry entry) && entry.Frozen;
    }

    // ---- RETRIEVE_FD (spec §4.4 steps 3-4) ----

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
                    _log.Warning("Retrieve of token {Token} in session {Session} failed with {Errno}; the failure is permanent (spec §4.4)",
                        token, session.Name.ToString(), restored.Name);
                    return restored;
                }
                incoming.Retrieved = held;
                _preservedFiles[held!.Facts.Identity] = new PreservedEntry(session, token, Frozen: false);
            }
            file = incoming.Retrieved;
        }
        return Errno.None;
    }

    // ---- FINISH (spec §4.5 steps 3-4) ----

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
                // The caller's fds stay valid; LUO only drops its own reference.
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

    // ---- last close of a session fd (spec §5.2) ----

    public void ReleaseSession(Session session)
    {
        int files;
        lock (_lock)
        {
            if (session.Gone)
                return;
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
        _log.Information("Session {Session} closed: {Kind} session discarded with {Files} files",
            session.Name.ToString(), session.Kind, files);
    }

    // ---- the new boot (filled by the store) ----

    public Session AddIncoming(SessionName name, IEnumerable<(ulong Token, IRestorableFile Source)> files)
    {
        lock (_lock)
        {
            var session = new Session(++_nextSessionId, name, SessionKind.Incoming);
            foreach ((ulong token, IRestorableFile source) in files)
                session.Add(new IncomingFile(token, source));
            _incoming.Add(session);
            return session;
        }
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
                    : s.Incoming.Select(f => new FileSnapshot(f.Token, "memfd-v2", f.Retrieved?.Facts.Size ?? -1,
                        f.FailedWith.IsError ? $"failed ({f.FailedWith.Name})" : f.Retrieved is null ? "waiting" : "retrieved")).ToList());
            return new OrchestratorSnapshot(_deviceInUse, _outgoing.Select(Of).Concat(_incoming.Select(Of)).ToList());
        }
    }
}

public sealed record FileSnapshot(ulong Token, string Handler, long Size, string State);

public sealed record SessionSnapshot(long Id, string Name, string Kind, IReadOnlyList<FileSnapshot> Files);

public sealed record OrchestratorSnapshot(bool DeviceOpen, IReadOnlyList<SessionSnapshot> Sessions);
