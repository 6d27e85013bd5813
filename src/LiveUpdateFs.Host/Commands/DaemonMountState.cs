namespace LiveUpdateFs.Host.Commands;

/// <summary>What a control command found at a mountpoint (<see cref="DaemonMount"/>).</summary>
public enum DaemonMountState
{
    /// <summary>A trusted liveupdatefs mount whose daemon answered with its status.</summary>
    Serving,

    /// <summary>Nothing is mounted there.</summary>
    NotMounted,

    /// <summary>A mount of another kind or owner, or a status that is not a daemon's: refused.</summary>
    Untrusted,

    /// <summary>A trusted liveupdatefs mount whose daemon has ended (reads fail, e.g. ENOTCONN).</summary>
    Dead,

    /// <summary>A trusted liveupdatefs mount whose daemon did not answer in time (stopped or hung).</summary>
    NotAnswering,

    /// <summary>The mount was replaced between the look at mountinfo and the
    /// read (a reboot's exec): <see cref="DaemonMount.At"/> looks again; never returned.</summary>
    Replaced,
}
