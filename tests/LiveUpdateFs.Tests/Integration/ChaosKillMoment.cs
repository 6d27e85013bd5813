namespace LiveUpdateFs.Tests.Integration;

/// <summary>When <see cref="ChaosEnding.DaemonKilledDuringReboot"/> kills the daemon.</summary>
public enum ChaosKillMoment
{
    /// <summary>A random few milliseconds after the command starts (it may not have frozen yet).</summary>
    SoonAfterStart,

    /// <summary>Once status.json says the boot is frozen (or the command got further).</summary>
    Frozen,

    /// <summary>Once status.json says committed, or the next boot serves.</summary>
    Committed,

    /// <summary>After the command returned.</summary>
    AfterReboot,
}
