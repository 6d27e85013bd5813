using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Uapi;
using Serilog;

namespace LiveUpdateFs.Core.Reboot;

/// <summary>
/// The one owner of a boot's reboot (README "How a reboot runs"): serving →
/// frozen (the image prepared, nothing visible) → committed (the image
/// published; the next boot starts from it). Every request is checked
/// against the phase before anything is written: a second FREEZE is EBUSY
/// and touches no store. A freeze whose client ends, or stays silent past
/// the timeout, is called off (thawed): the image is dropped and the boot
/// serves again, as after a failed kexec (docs/behaviour.md §7). Not thread-safe: the
/// FUSE thread makes every call, and the stop comes after it has finished.
/// </summary>
public sealed class RebootStateMachine
{
    private readonly Orchestrator _orchestrator;
    private readonly IHandoverTarget _target;
    private readonly Func<long> _clockMs;
    private readonly ILogger _log;
    private Pending? _pending;
    private RestartPlan? _committed;

    private sealed record Pending(RebootMode Mode, IHandoverImage Image, IRebootClient Client, long DeadlineMs, HandoverSummary Summary);

    /// <param name="freezeTimeout">How long a freeze waits for its client's restart request.</param>
    /// <param name="clockMs">Milliseconds of a monotonic clock (tests pass their own).</param>
    public RebootStateMachine(Orchestrator orchestrator, IHandoverTarget target, TimeSpan freezeTimeout, ILogger log, Func<long>? clockMs = null)
    {
        _orchestrator = orchestrator;
        _target = target;
        FreezeTimeout = freezeTimeout;
        _clockMs = clockMs ?? (() => Environment.TickCount64);
        _log = log.ForContext<RebootStateMachine>();
    }

    public TimeSpan FreezeTimeout { get; }

    public RebootPhase Phase => _committed is not null ? RebootPhase.Committed : _pending is not null ? RebootPhase.Frozen : RebootPhase.Serving;

    /// <summary>The pid of the process whose freeze is pending; null when none is.</summary>
    public int? FreezeOwner => _pending?.Client.Pid;

    /// <summary>The committed reboot the daemon must carry out; null before the commit.</summary>
    public RestartPlan? Committed => _committed;

    /// <summary>
    /// FREEZE (docs/behaviour.md §7 step 1): serializes the outgoing sessions into a new
    /// prepared image and freezes the boot. Only while serving: otherwise
    /// EBUSY with nothing touched. The boot stays frozen until
    /// <paramref name="client"/> asks for the restart, ends, or lets
    /// <see cref="FreezeTimeout"/> pass. Takes ownership of <paramref name="client"/>.
    /// </summary>
    public Errno Freeze(RebootMode mode, IRebootClient client, TextWriter? progress, out HandoverSummary summary)
    {
        summary = default;
        if (Phase != RebootPhase.Serving)
        {
            _log.Warning("Reboot ({Mode}) requested by pid {Pid} refused with EBUSY: {Phase} by pid {Owner}; nothing changed",
                mode, client.Pid, Phase == RebootPhase.Frozen ? "another reboot has frozen this boot" : "this boot has committed its reboot", FreezeOwner);
            client.Dispose();
            return Errno.EBUSY;
        }
        Errno result = _target.NewImage(mode, client.Pid, progress, out IHandoverImage? image);
        if (!result.IsError)
            result = _orchestrator.Freeze(image!, out summary); // aborts the image on failure
        if (result.IsError)
        {
            client.Dispose();
            return result;
        }
        _pending = new Pending(mode, image!, client, _clockMs() + (long)FreezeTimeout.TotalMilliseconds, summary);
        _log.Information("Boot frozen for a reboot ({Mode}) by pid {Pid}: waiting up to {Seconds} s for its restart request",
            mode, client.Pid, FreezeTimeout.TotalSeconds);
        return Errno.None;
    }

    /// <summary>
    /// RESTART: publishes the frozen image; the daemon then starts the next
    /// boot (<see cref="Committed"/>). Only the process that froze may ask
    /// (EBUSY for another; EINVAL when nothing is frozen). A failed publish
    /// thaws the boot and returns the error.
    /// </summary>
    public Errno Restart(int callerPid)
    {
        if (_pending is not { } pending)
            return _committed is null ? Errno.EINVAL : Errno.EBUSY;
        if (pending.Client.Pid != callerPid || pending.Client.HasExited)
        {
            _log.Warning("Restart requested by pid {Pid} refused with EBUSY: the freeze belongs to pid {Owner}", callerPid, pending.Client.Pid);
            return Errno.EBUSY;
        }
        Errno published = pending.Image.Publish();
        if (published.IsError)
        {
            Thaw($"its image could not be committed ({published.Name})");
            return published;
        }
        _pending = null;
        pending.Client.Dispose();
        _committed = new RestartPlan(pending.Mode, pending.Image);
        _log.Information("Reboot ({Mode}) committed; the next boot starts now", pending.Mode);
        return Errno.None;
    }

    /// <summary>
    /// Calls off a freeze whose client has ended or whose time is up
    /// (nothing is lost: the boot serves on). Returns whether it thawed.
    /// </summary>
    public bool ThawIfAbandoned()
    {
        if (_pending is not { } pending)
            return false;
        if (pending.Client.HasExited)
            Thaw($"the reboot command (pid {pending.Client.Pid}) ended before it asked for the restart");
        else if (_clockMs() >= pending.DeadlineMs)
            Thaw($"the reboot command (pid {pending.Client.Pid}) did not ask for the restart within {FreezeTimeout.TotalSeconds} s");
        else
            return false;
        return true;
    }

    /// <summary>
    /// The daemon stops (SIGTERM, unmount, docker stop): like a reboot, the
    /// next start boots into this boot's sessions, durably. Serving: a
    /// durable freeze and commit. Frozen durable: its prepared image is
    /// committed. Frozen in place: the memfds die with this process, so the
    /// same sessions are written durably instead. Committed: the restart
    /// plan stands.
    /// </summary>
    public StopOutcome Stop()
    {
        if (_committed is not null)
            return new StopOutcome(Errno.None, default, _committed);
        if (_pending is { Mode: RebootMode.Durable } durable)
        {
            _pending = null;
            durable.Client.Dispose();
            return new StopOutcome(durable.Image.Publish(), durable.Summary, null);
        }
        bool frozen = _pending is not null;
        if (_pending is { } inPlace)
        {
            _pending = null;
            inPlace.Client.Dispose();
            inPlace.Image.Abort();
        }
        return WriteDurably(frozen);
    }

    /// <summary>
    /// The committed reboot could not start the next boot in this process
    /// (exec failed): a durable image is already complete; an in-place one's
    /// memfds die with this process, so the same sessions are written durably.
    /// </summary>
    public StopOutcome RestartFailed()
    {
        if (_committed is not { Mode: RebootMode.InPlace })
            return new StopOutcome(Errno.None, default, null);
        _committed = null;
        return WriteDurably(frozen: true);
    }

    private StopOutcome WriteDurably(bool frozen)
    {
        Errno result = _target.NewImage(RebootMode.Durable, requester: null, progress: null, out IHandoverImage? image);
        if (result.IsError)
            return new StopOutcome(result, default, null);
        HandoverSummary summary;
        result = frozen ? _orchestrator.Reserialize(image!, out summary) : _orchestrator.Freeze(image!, out summary);
        if (!result.IsError)
            result = image!.Publish();
        if (result.IsError)
            image!.Abort();
        return new StopOutcome(result, summary, null);
    }

    private void Thaw(string reason)
    {
        Pending pending = _pending!;
        _pending = null;
        pending.Image.Abort();
        pending.Client.Dispose();
        _log.Warning("Reboot ({Mode}) called off: {Reason}. Nothing was committed; every session stays as it was and held callers are served now. Run the reboot again",
            pending.Mode, reason);
        _orchestrator.Thaw();
    }
}
