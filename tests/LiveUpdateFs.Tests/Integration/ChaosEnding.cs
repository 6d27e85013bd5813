namespace LiveUpdateFs.Tests.Integration;

/// <summary>How a chaos round ends.</summary>
public enum ChaosEnding
{
    /// <summary>The boot goes on into the next round (its holders too).</summary>
    None,

    /// <summary>1-3 `liveupdatefs reboot --expect-boot` commands at once: exactly one reboots.</summary>
    RebootGroup,

    /// <summary>A reboot client SIGKILLed between FREEZE and RESTART while a
    /// check waits, held; the boot thaws and serves it. Optionally a reboot follows.</summary>
    ClientKilledWhileFrozen,

    /// <summary>SIGKILL of the daemon at a moment of a running reboot command, then a start if none serves.</summary>
    DaemonKilledDuringReboot,

    /// <summary>SIGKILL of the daemon a random moment after a check started (maybe in its first open), then `mount`.</summary>
    DaemonKilledDuringCheck,

    /// <summary>SIGKILL of the idle daemon, then `mount`.</summary>
    DaemonKilledIdle,

    /// <summary>SIGKILL of the idle daemon, `mount` with LIVEUPDATEFS_FAULT=kill@N,
    /// then a check, the round's sessions and one reboot: the daemon dies wherever N falls.</summary>
    FaultMount,

    /// <summary>`liveupdatefs unmount` (SIGTERM: a durable handover) and `mount`.</summary>
    StopAndMount,

    /// <summary>A reboot client freezes and hangs; `unmount` hands the frozen sessions over durably; `mount`.</summary>
    StopWhileFrozen,

    /// <summary>SIGKILL of a `liveupdatefs reboot` command after a random delay or once it froze: the reboot
    /// is called off (holders it ended lose their sessions) or, past its restart request, goes through.</summary>
    RebootCommandKilled,
}
