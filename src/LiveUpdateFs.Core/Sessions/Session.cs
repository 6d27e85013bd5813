namespace LiveUpdateFs.Core.Sessions;

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
