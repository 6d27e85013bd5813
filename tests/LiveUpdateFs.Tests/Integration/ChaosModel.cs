namespace LiveUpdateFs.Tests.Integration;

/// <summary>
/// What the emulator must offer, as README's "What works today" says: the
/// committed generation (and whether a boot consumed it), the incoming
/// sessions of this boot not retrieved yet, the holders of this boot's
/// outgoing sessions, and, after a daemon killed at a moment whose outcome
/// is legitimately one of two states, both of them until a check says which
/// (likewise the sessions of a holder killed while a reboot froze: each is
/// handed over whole or not at all, as many as the reboot says it froze).
/// </summary>
public sealed class ChaosModel
{
    private readonly List<ChaosHolder> _holders = [];

    /// <summary>The generation the store's pointer names; null before the first commit
    /// (or after an in-place one whose memfds died: it offers nothing any more).</summary>
    public ChaosGeneration? Committed { get; private set; }

    /// <summary>The incoming sessions this boot offers that no check retrieved yet.</summary>
    public IReadOnlyList<ChaosSession> Incoming { get; private set; } = [];

    /// <summary>Set when this boot offers one of two states and no check has said which.</summary>
    public (IReadOnlyList<ChaosSession> Old, IReadOnlyList<ChaosSession> New)? Undecided { get; private set; }

    /// <summary>Sessions of which this boot offers exactly <see cref="OptionalOffered"/>, each whole or not
    /// at all (a holder killed while the reboot froze); set until a check counts them.</summary>
    public IReadOnlyList<ChaosSession> Optional { get; private set; } = [];

    public int OptionalOffered { get; private set; }

    /// <summary>This boot offers something only a check can tell: it must come before anything else.</summary>
    public bool MustCheck => Undecided is not null || Optional.Count > 0;

    /// <summary>Whether the device was opened in this boot (the open consumed the committed generation).</summary>
    public bool OpenedThisBoot { get; private set; }

    public IReadOnlyList<ChaosHolder> Holders => _holders;

    /// <summary>The outgoing sessions a reboot must freeze: those whose holder lives.</summary>
    public IReadOnlyList<ChaosSession> Outgoing => _holders.SelectMany(h => h.Sessions).ToList();

    /// <summary>What a daemon started without a reboot offers (README's table): a durable
    /// generation no boot opened, whole; otherwise nothing.</summary>
    public IReadOnlyList<ChaosSession> OfferedToAStartAfterACrash =>
        Committed is { Durable: true, Consumed: false } generation ? generation.Sessions : [];

    public void HolderStarted(ChaosHolder holder) => _holders.Add(holder);

    /// <summary>A holder was killed: its sessions are not handed over.</summary>
    public void HolderEnded(ChaosHolder holder) => _holders.Remove(holder);

    /// <summary>Any open of the device: the first of a boot consumes the committed generation.</summary>
    public void DeviceOpened()
    {
        if (OpenedThisBoot)
            return;
        OpenedThisBoot = true;
        if (Committed is not null)
            Committed = Committed with { Consumed = true };
    }

    /// <summary>A check retrieved and finished every session it found.</summary>
    public void Checked()
    {
        DeviceOpened();
        Incoming = [];
        Undecided = null;
        Optional = [];
        OptionalOffered = 0;
    }

    /// <summary>A reboot committed: the next boot offers exactly what was held at the freeze; the holders were ended,
    /// the incoming sessions nobody retrieved are not carried further.</summary>
    public void Rebooted(bool durable)
    {
        Committed = new ChaosGeneration(Outgoing, durable, Consumed: false);
        NewBoot(Committed.Sessions);
    }

    /// <summary>A reboot committed while the holder of <paramref name="optional"/> was being killed:
    /// the freeze found <paramref name="offered"/> of them still open (which ones, a check tells:
    /// <see cref="MustCheck"/>; the committed generation lists only the others until then).</summary>
    public void Rebooted(bool durable, IReadOnlyList<ChaosSession> optional, int offered)
    {
        Rebooted(durable);
        Optional = optional;
        OptionalOffered = offered;
    }

    /// <summary>The daemon died (and its holders were ended); a plain start follows.</summary>
    public void StartedAfterACrash()
    {
        IReadOnlyList<ChaosSession> offered = OfferedToAStartAfterACrash;
        if (Committed is { Durable: false })
            Committed = null; // its kept memfds died with the daemon
        NewBoot(offered);
    }

    /// <summary>The daemon died during a reboot of the given mode, at a moment
    /// whose outcome is the state committed before (old) or the reboot's (new),
    /// the latter complete or not at all. <paramref name="committed"/>: whether
    /// the reboot's commit is known to have happened (true), known not to
    /// have happened (false) or unknown (null).</summary>
    public void CrashedDuringReboot(bool durable, bool? committed)
    {
        IReadOnlyList<ChaosSession> old = OfferedToAStartAfterACrash;
        IReadOnlyList<ChaosSession> @new = durable ? Outgoing : [];
        if (committed is true)
            Committed = new ChaosGeneration(Outgoing, durable, Consumed: false);
        if (committed is not null)
        {
            StartedAfterACrash();
            return;
        }
        // Either way a check settles it; after that check's open nothing is offered again.
        Committed = new ChaosGeneration([], Durable: true, Consumed: true);
        NewBoot([]);
        Undecided = (old, @new);
    }

    /// <summary>The daemon died while a check ran. An open that succeeded consumed the generation
    /// (the mark is durable before the open returns): then nothing is offered again. If it is unknown
    /// whether the open got that far (<paramref name="openSucceeded"/> null), the start offers what it
    /// would have before the open, whole, or nothing.</summary>
    public void CrashedWhileChecking(bool? openSucceeded)
    {
        if (openSucceeded is true)
            DeviceOpened();
        IReadOnlyList<ChaosSession> old = OfferedToAStartAfterACrash;
        if (openSucceeded is true || old.Count == 0)
        {
            StartedAfterACrash();
            return;
        }
        Committed = new ChaosGeneration([], Durable: true, Consumed: true);
        NewBoot([]);
        Undecided = (old, []);
    }

    /// <summary>`unmount` froze the outgoing sessions durably; the holders were ended; `mount` boots into them.</summary>
    public void StoppedAndStarted() => Rebooted(durable: true);

    private void NewBoot(IReadOnlyList<ChaosSession> incoming)
    {
        Incoming = incoming;
        Undecided = null;
        Optional = [];
        OptionalOffered = 0;
        OpenedThisBoot = false;
        _holders.Clear();
    }
}
