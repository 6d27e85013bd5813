using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Core.Reboot;
using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Fuse.Callers;
using LiveUpdateFs.Fuse.Trapped;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;
using Serilog;

namespace LiveUpdateFs.Fuse;

/// <summary>
/// The control node's envelopes: the preload library's frozen-size query,
/// and `liveupdatefs reboot`'s FREEZE and RESTART with who may send them.
/// Device requests are refused here (docs/behaviour.md §11). FUSE thread only.
/// </summary>
/// <param name="reboots">Owns the reboot; null: reboots are refused (EOPNOTSUPP).</param>
/// <param name="bootId">This boot's id as status.json names it.</param>
internal sealed class ControlRequests(Orchestrator orchestrator, RebootStateMachine? reboots, string bootId, ExitWatcher exits, ILogger log)
{
    private readonly ILogger _log = log.ForContext<ControlRequests>();
    private IFuseLoop? _loop;
    private TrapListeners? _listeners;

    public void Attach(IFuseLoop loop) => _loop = loop;

    public void AttachListeners(TrapListeners listeners) => _listeners = listeners;

    public Errno Handle(FuseCaller caller, CallerProcess process, Envelope envelope) => envelope.Phase switch
    {
        Envelope.PhaseQueryFrozen => QueryFrozen(process, envelope),
        Envelope.PhaseFreeze or Envelope.PhaseRestart when RebootRefusal(caller) is { } refused => refused,
        Envelope.PhaseFreeze => Freeze(reboots!, process, envelope),
        Envelope.PhaseRestart => Restart(reboots!, process),
        Envelope.PhaseServeListener => ServeListener(caller, process, envelope),
        _ => Errno.EINVAL,
    };

    /// <summary>`liveupdatefs run` hands over the listener of the seccomp
    /// filter it installed (docs/seccomp.md): from now on the daemon answers
    /// its tree's trapped calls, for processes of the sender's user only.</summary>
    private Errno ServeListener(FuseCaller caller, CallerProcess process, Envelope envelope)
    {
        if (_listeners is null)
            return Errno.EOPNOTSUPP;
        Errno taken = process.TakeDescriptor(envelope.ChannelFd, out SafeFd? listener);
        return taken.IsError ? taken : _listeners.Add(listener!, caller.Uid, process.ProcessId);
    }

    /// <summary>docs/behaviour.md §8.2 for the library's ftruncate/fallocate wrappers: EPERM while frozen.</summary>
    private Errno QueryFrozen(CallerProcess process, Envelope envelope)
    {
        Errno result = process.Take(envelope.ChannelFd, out IHeldFile? file);
        if (result.IsError)
            return result;
        using (file)
            return file!.Facts.FileSystem != FileSystemKind.Other && orchestrator.IsFrozen(file.Facts.Identity) ? Errno.EPERM : Errno.None;
    }

    /// <summary>
    /// `liveupdatefs reboot`'s freeze (docs/behaviour.md §7 step 1). Runs on the FUSE
    /// thread, so every other LUO caller waits meanwhile; afterwards they are
    /// held until the restart (then ENOTCONN: the "machine" went down) or a
    /// thaw (then they are served). ESTALE when the caller names a boot that
    /// is not this one (it read status.json before another reboot): two
    /// reboot commands started together give one reboot, never two.
    /// </summary>
    private Errno Freeze(RebootStateMachine machine, CallerProcess process, Envelope envelope)
    {
        if (envelope.CallerArgument != 0 && envelope.CallerArgument != BootNumber)
        {
            _log.Warning("Reboot requested by pid {Pid} for boot {Expected:x16} refused with ESTALE: this is boot {Boot}; nothing changed",
                process.ProcessId, envelope.CallerArgument, bootId);
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
        if (ProcessPin.Of(process.ProcessId) is not { } pin)
            return Errno.ESRCH;
        SafeFd? terminal = null;
        if (envelope.ChannelFd >= 0 && process.TakeDescriptor(envelope.ChannelFd, out terminal).IsError)
            terminal = null;
        using (TextWriter? progress = terminal is null ? null : ProgressRelay.Over(terminal))
        {
            _log.Information("Reboot ({Mode}) requested by pid {Pid}: freezing the outgoing sessions", mode, process.ProcessId);
            bool underWay = machine.Phase != RebootPhase.Serving;
            Errno result = machine.Freeze(mode.Value, new PinnedRebootClient(pin), progress, out HandoverSummary summary);
            envelope.SetFreezeSummary(summary.Sessions, summary.Files, summary.Bytes);
            if (underWay)
                envelope.SetRebootUnderWay();
            if (!result.IsError)
                exits.Add(process.ProcessId, machine.FreezeTimeout, () => _loop?.Post(() => ThawIfAbandoned(machine)));
            return result;
        }
    }

    /// <summary>The boot id of status.json as a number (0 when unknown).</summary>
    private ulong BootNumber => ulong.TryParse(bootId, System.Globalization.NumberStyles.AllowHexSpecifier, null, out ulong id) ? id : 0;

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
        if (caller.Uid != 0 && caller.Uid != CurrentUser.EffectiveUid)
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
}
