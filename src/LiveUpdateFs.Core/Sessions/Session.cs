using LiveUpdateFs.Core.Files;

namespace LiveUpdateFs.Core.Sessions;

public enum SessionKind
{
    /// <summary>Created in this boot; handed to the next one if its fd is open at reboot.</summary>
    Outgoing,

    /// <summary>Handed over by the previous boot.</summary>
    Incoming,
}

/// <summary>A file preserved in an outgoing session, under its token.</summary>
public sealed class PreservedFile(ulong token, IFileHandler handler, IHeldFile file)
{
    public ulong Token { get; } = token;
    public IFileHandler Handler { get; } = handler;
    public IHeldFile File { get; } = file;
}

/// <summary>
/// A file handed over by the previous boot (spec §4.4): not retrieved yet,
/// retrieved (LUO keeps a reference; later retrieves share it), or failed
/// (the errno is returned again, forever).
/// </summary>
public sealed class IncomingFile(ulong token, string compatible, IRestorableFile source)
{
    public ulong Token { get; } = token;
    public string Compatible { get; } = compatible;
    public IRestorableFile Source { get; } = source;
    public IHeldFile? Retrieved { get; set; }
    public Uapi.Errno FailedWith { get; set; } = Uapi.Errno.None;
}

/// <summary>Preserved contents waiting in the store for the new boot.</summary>
public interface IRestorableFile
{
    /// <summary>The size recorded at preserve.</summary>
    long Size { get; }

    /// <summary>The handler's retrieve: builds the file anew.</summary>
    Uapi.Errno Restore(out IHeldFile? file);

    /// <summary>Restore would take long (a copy out of the store): the
    /// request thread runs <see cref="PrepareRestore"/> elsewhere first.</summary>
    bool RestoreIsSlow => false;

    /// <summary>Does the slow part of <see cref="Restore"/> now, on any
    /// thread; Restore then uses its result. Safe against <see cref="Discard"/>.</summary>
    void PrepareRestore()
    {
    }

    /// <summary>FINISH without retrieve: the preserved data is released.</summary>
    void Discard();
}

/// <summary>One LUO session. All access goes through the <see cref="Orchestrator"/>'s lock.</summary>
public sealed class Session
{
    private readonly List<PreservedFile> _preserved = [];
    private readonly Dictionary<ulong, PreservedFile> _preservedByToken = [];
    private readonly List<IncomingFile> _incoming = [];

    internal Session(long id, SessionName name, SessionKind kind)
    {
        Id = id;
        Name = name;
        Kind = kind;
    }

    /// <summary>Unique for the daemon's lifetime; never reused.</summary>
    public long Id { get; }
    public SessionName Name { get; }
    public SessionKind Kind { get; }

    /// <summary>Incoming only: a session fd exists or existed (RETRIEVE_SESSION ran).</summary>
    public bool Retrieved { get; internal set; }

    /// <summary>Outgoing only: its fd was handed to its creator (the fd
    /// exists). A session whose creator died before taking the fd is never
    /// handed over (docs: README "What a reboot hands over").</summary>
    public bool Held { get; internal set; }

    /// <summary>Removed from its list: later operations on a stale fd do nothing.</summary>
    public bool Gone { get; internal set; }

    public IReadOnlyList<PreservedFile> Preserved => _preserved;
    public IReadOnlyList<IncomingFile> Incoming => _incoming;

    internal bool HasToken(ulong token) => _preservedByToken.ContainsKey(token);

    internal void Add(PreservedFile file)
    {
        _preserved.Add(file);
        _preservedByToken.Add(file.Token, file);
    }

    internal void Add(IncomingFile file) => _incoming.Add(file);

    internal IncomingFile? FindIncoming(ulong token) => _incoming.Find(f => f.Token == token);

    /// <summary>Takes every preserved file out, newest first (the kernel's unpreserve order).</summary>
    internal List<PreservedFile> TakePreservedNewestFirst()
    {
        var files = Enumerable.Reverse(_preserved).ToList();
        _preserved.Clear();
        _preservedByToken.Clear();
        return files;
    }

    internal List<IncomingFile> TakeIncomingNewestFirst()
    {
        var files = Enumerable.Reverse(_incoming).ToList();
        _incoming.Clear();
        return files;
    }
}
