using System.Diagnostics;
using LiveUpdateFs.Fuse;
using LiveUpdateFs.Host.Daemon;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Host.Commands;

/// <summary>
/// `liveupdatefs reboot`: the stand-in for a kexec with LUO (docs/behaviour.md §7). The
/// running daemon freezes its outgoing sessions (nothing changes if that
/// fails); then the processes holding emulator fds are ended and the next
/// boot starts on the same mountpoint and link, booting into the handed-over
/// sessions: the daemon commits and execs itself (same pid, new boot). In
/// place (the default) the memfds stay open across the exec, as the kernel
/// keeps pages in place; durable, their data went into the store. The
/// freeze names the boot the command saw, so of two commands started
/// together one reboots and the other is refused (EBUSY or ESTALE).
/// </summary>
/// <param name="expectBoot">Reboot only this boot (status.json's id): a
/// retry or a second command that passes the boot it saw never reboots the
/// boot that a first one started. Null: the boot that serves now.</param>
public sealed class RebootCommand(string mountpoint, bool keepProcesses, bool durable, string? expectBoot = null)
{
    private static readonly TimeSpan EndTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan RestartTimeout = TimeSpan.FromSeconds(30);

    public int Run()
    {
        DaemonMount daemon = FindDaemon();
        if (!daemon.Serving)
            return Fail(1, daemon.State is DaemonMountState.NotMounted or DaemonMountState.Dead
                ? $"{daemon.Problem} (a reboot under way remounts it within moments: check with liveupdatefs status)"
                : daemon.Problem);
        string boot = daemon.Boot;
        if (expectBoot is not null && !string.Equals(boot, expectBoot, StringComparison.OrdinalIgnoreCase))
            return Fail(1, $"the emulator rebooted since boot {expectBoot} (ESTALE): it now runs boot {boot}; this reboot was refused and changed nothing");
        using ProcessPin? pinned = daemon.PinDaemon(out string problem);
        if (pinned is null)
            return NextBootStarted(daemon.DaemonPid, boot)
                ? Fail(1, "the emulator rebooted since this command looked (ESTALE): another reboot ran first, this one was refused and changed nothing. "
                    + "Reboot again only if you want a second live update")
                : Fail(1, problem);

        var clock = Stopwatch.StartNew();
        bool showProgress = Terminal.IsTerminal(2);
        Envelope freeze = Envelope.NewFreeze(showProgress ? 2 : -1, durable, BootNumber(expectBoot ?? boot));
        Errno result = NodeIoctl.Call(ControlPath, Envelope.Request, freeze.Buffer);
        TimeSpan frozenAfter = clock.Elapsed;
        if (result.IsError)
            return FreezeFailed(result, freeze, pinned, boot);
        var (sessions, files, bytes) = freeze.FreezeSummary;
        Console.WriteLine($"liveupdatefs: froze {sessions} sessions, {files} files, {Size(bytes)} of memfd in {frozenAfter.TotalMilliseconds:F0} ms"
            + (durable ? " (copied into the store)" : " (kept in place)"));

        List<int> ended = EndHolders(pinned.Pid);
        if (!Restart(pinned, boot, daemon.Supervised))
            return 1;
        // The ended processes were held in LUO requests; they finish dying now that the old connection is gone.
        foreach (int pid in ended)
            ProcessExit.Wait(pid, EndTimeout);
        Console.WriteLine($"liveupdatefs: live update done in {clock.Elapsed.TotalMilliseconds:F0} ms (blackout from freeze to the new boot serving); "
            + $"{(keepProcesses ? "processes kept" : $"{ended.Count} processes ended")}; retrieve the sessions with RETRIEVE_SESSION");
        return 0;
    }

    /// <summary>A pin that failed because another reboot's exec replaced the
    /// mount (same pid, a new FUSE connection) between this command's look and
    /// its check: the mountpoint soon serves a new boot of the same daemon.</summary>
    private bool NextBootStarted(int daemonPid, string boot)
    {
        return DaemonWait.Until(mountpoint, NextBootWait, d => d.Serving, out DaemonMount now) && now.DaemonPid == daemonPid && now.Boot != boot;
    }

    private static readonly TimeSpan NextBootWait = TimeSpan.FromSeconds(5);

    private string ControlPath => Path.Combine(mountpoint, Envelope.ControlNode);

    /// <summary>The daemon of the mountpoint; with an expected boot, a daemon
    /// between two boots (its exec) is waited for, so that the answer is
    /// "rebooted since", not "not there".</summary>
    private DaemonMount FindDaemon()
    {
        DaemonWait.Until(mountpoint, RestartTimeout,
            d => d.Serving || expectBoot is null || d.State is not (DaemonMountState.NotMounted or DaemonMountState.Dead), out DaemonMount daemon);
        return daemon;
    }

    /// <summary>Asks the frozen daemon to commit and exec into the next boot,
    /// and waits until that boot serves (same pid, new boot in status.json).
    /// A daemon that could not exec writes the sessions into the store and
    /// exits; its supervisor, or its user, starts the next one (never this
    /// command: how to mount it is not taken from status.json).</summary>
    private bool Restart(ProcessPin daemon, string oldBoot, bool supervised)
    {
        Envelope restart = Envelope.NewRestart();
        Errno result = NodeIoctl.Call(ControlPath, Envelope.Request, restart.Buffer);
        // Unanswered: the daemon died in the commit (the wait below sees it end).
        if (result.IsError && restart.Answered)
        {
            Fail(1, $"the daemon could not commit the reboot ({result.Name}): nothing was committed, the reboot is called off and the emulator serves again; "
                + "sessions of the processes ended above are gone with them, as after a failed kexec. The daemon's log says why; run the reboot again");
            return false;
        }
        if (DaemonWait.Until(mountpoint, RestartTimeout, d => d.Serving && d.DaemonPid == daemon.Pid && d.Boot != oldBoot, out _, () => daemon.HasExited))
            return true;
        if (daemon.HasExited)
        {
            // Either its exec failed and the sessions are in the store,
            // or it was killed: then in-place memfds died with it.
            Fail(1, $"the daemon (pid {daemon.Pid}) ended instead of restarting; its log says whether the sessions are in the store "
                + "or it was killed (then kept memfds died with it, as memory in a crash, and an uncommitted durable reboot left the previous state). "
                + $"Use --durable where the daemon may be killed. {NextDaemon(daemon.Pid, supervised)}");
            return false;
        }
        Fail(1, $"the next boot did not serve {mountpoint} within {RestartTimeout.TotalSeconds} s; see the daemon's log");
        return false;
    }

    /// <summary>What starts the daemon after the one that ended, said as the
    /// end of the message: its supervisor, or the user's own mount command.</summary>
    private string NextDaemon(int oldPid, bool supervised)
    {
        if (!supervised)
            return $"Start it again with the mount command you started it with (liveupdatefs mount --mountpoint {mountpoint} and your --store and other options): "
                + "it boots into what the store holds";
        return AwaitSupervisorRestart(oldPid) is { } pid
            ? $"The supervisor started the next daemon, pid {pid}"
            : $"The supervisor did not start a new daemon within {RestartTimeout.TotalSeconds} s; "
                + $"the unit needs RestartForceExitStatus={ServiceManager.RestartForLiveUpdate} (see contrib/systemd/liveupdatefs.service)";
    }

    /// <summary>status.json's boot id as the freeze names it (0: any boot).</summary>
    private static ulong BootNumber(string boot) =>
        ulong.TryParse(boot, System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out ulong id) ? id : 0;

    /// <summary>An unanswered freeze whose connection went away while the
    /// daemon lives on: it waited behind another reboot, whose next boot now
    /// serves (the daemon execs: same pid, new boot).</summary>
    private bool RebootedMeanwhile(Errno result, ProcessPin daemon, string boot)
    {
        if (result != Errno.ENOTCONN && result != Errno.ECONNABORTED)
            return false;
        return DaemonWait.Until(mountpoint, RestartTimeout, d => d.Serving, out DaemonMount next, () => daemon.HasExited)
            && next.DaemonPid == daemon.Pid && next.Boot != boot;
    }

    private int FreezeFailed(Errno result, Envelope freeze, ProcessPin daemon, string boot)
    {
        bool answered = freeze.Answered;
        if (answered && result == Errno.EPERM)
            return Fail(1, "the daemon refused the freeze (EPERM): only root or the user running the daemon may reboot it; nothing changed");
        if (answered && result == Errno.EBUSY && !freeze.RebootWasUnderWay)
            return Fail(1, "a process that can write a preserved memfd did not stop for the durable copy (EBUSY): nothing changed, everyone runs on. "
                + "The daemon's log names it; retry, or end that process");
        if (answered && result == Errno.EBUSY)
            return Fail(1, "another reboot is under way (EBUSY): this one was refused and changed nothing. "
                + $"Wait for the other to finish (liveupdatefs status --mountpoint {mountpoint}); reboot again only if you want a second live update");
        if (answered && result == Errno.ESTALE || !answered && RebootedMeanwhile(result, daemon, boot))
            return Fail(1, "the emulator rebooted since this command looked (ESTALE): another reboot ran first, this one was refused and changed nothing. "
                + "Reboot again only if you want a second live update");
        if (answered)
            return Fail(1, $"the freeze failed with {result.Name}: nothing changed, every session stays as it was and the emulator keeps serving. "
                + "The daemon's log says which file could not be frozen");
        if (result == Errno.ENOTCONN || result == Errno.ECONNABORTED || daemon.HasExited)
            return Fail(1, $"the daemon (pid {daemon.Pid}) died during the freeze; nothing of this reboot was committed (a crash: the next start boots cold if this boot had opened the device, else into the last committed state). "
                + $"Start the emulator again with: liveupdatefs mount --mountpoint {mountpoint}");
        return Fail(1, $"the emulator at {mountpoint} did not understand the freeze request ({result.Name}); is it an older liveupdatefs? Restart it with this version");
    }

    /// <summary>What a kexec does to every process: holders of emulator fds
    /// (in any mount namespace) get SIGKILL, through a pidfd taken before the
    /// process is checked once more, so a pid reused since the scan is never
    /// hit. Those that cannot be ended are reported.</summary>
    private List<int> EndHolders(int daemonPid)
    {
        if (keepProcesses)
            return [];
        var ended = new List<int>();
        var failed = new List<string>();
        var holders = new EmulatorFdHolders(mountpoint);
        foreach (int pid in EmulatorFdHolders.Find(mountpoint, new HashSet<int> { Environment.ProcessId, daemonPid }))
        {
            using ProcessPin? pin = ProcessPin.Of(pid);
            if (pin is null || !holders.Holds(pid))
                continue; // ended meanwhile (its number may already be another process's)
            Errno killed = pin.Kill();
            if (killed.IsError)
                failed.Add($"{pid} ({killed.Name})");
            else
                ended.Add(pid);
        }
        if (ended.Count > 0)
            Console.WriteLine($"liveupdatefs: ended {ended.Count} processes holding emulator fds: {string.Join(' ', ended)}");
        if (failed.Count > 0)
            Console.Error.WriteLine($"liveupdatefs reboot: could not end {failed.Count} processes holding emulator fds: {string.Join(", ", failed)}; "
                + "they outlive the reboot and their fds of the old boot fail with ENOTCONN. End them yourself (another user's processes need root)");
        return ended;
    }

    /// <summary>Under systemd the old daemon exits with
    /// <see cref="ServiceManager.RestartForLiveUpdate"/> and the unit starts
    /// the next one: its pid, or null when none serves in time.</summary>
    private int? AwaitSupervisorRestart(int oldPid)
    {
        return DaemonWait.Until(mountpoint, RestartTimeout, d => d.Serving && d.DaemonPid != oldPid, out DaemonMount next) ? next.DaemonPid : null;
    }

    private static string Size(long bytes) => bytes >= 1 << 20 ? $"{bytes / (double)(1 << 20):F1} MiB" : $"{bytes} bytes";

    private static int Fail(int code, string message)
    {
        Console.Error.WriteLine($"liveupdatefs reboot: {message}");
        return code;
    }
}
