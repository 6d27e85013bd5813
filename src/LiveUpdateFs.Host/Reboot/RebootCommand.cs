using System.Diagnostics;
using System.Text.Json;
using LiveUpdateFs.Fuse;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Host.Reboot;

/// <summary>
/// `liveupdatefs reboot`: the stand-in for a kexec with LUO (spec §7). The
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
        if (!ReadStatus(out int daemonPid, out JsonDocument? status))
            return Fail(1, $"no daemon serves {mountpoint} (a reboot under way restarts it within moments: check with liveupdatefs status); "
                + $"start one with: liveupdatefs mount --mountpoint {mountpoint}");
        string[] mountArguments;
        bool supervised;
        string boot;
        using (status)
        {
            mountArguments = status!.RootElement.GetProperty("mountArguments").EnumerateArray().Select(a => a.GetString()!).ToArray();
            supervised = status.RootElement.GetProperty("supervised").GetBoolean();
            boot = status.RootElement.TryGetProperty("boot", out JsonElement b) ? b.GetString() ?? "" : "";
        }
        if (expectBoot is not null && !string.Equals(boot, expectBoot, StringComparison.OrdinalIgnoreCase))
            return Fail(1, $"the emulator rebooted since boot {expectBoot} (ESTALE): it now runs boot {boot}; this reboot was refused and changed nothing");

        var clock = Stopwatch.StartNew();
        bool showProgress = ControlNode.IsTerminal(2);
        Envelope freeze = Envelope.NewFreeze(showProgress ? 2 : -1, durable, BootNumber(expectBoot ?? boot));
        Errno result = ControlNode.Ioctl(ControlPath, Envelope.Request, freeze.Buffer);
        TimeSpan frozenAfter = clock.Elapsed;
        if (result.IsError)
            return FreezeFailed(result, freeze, daemonPid, boot);
        var (sessions, files, bytes) = freeze.FreezeSummary;
        Console.WriteLine($"liveupdatefs: froze {sessions} sessions, {files} files, {Size(bytes)} of memfd in {frozenAfter.TotalMilliseconds:F0} ms"
            + (durable ? " (copied into the store)" : " (kept in place)"));

        List<int> ended = EndHolders(daemonPid);
        if (!Restart(daemonPid, boot, supervised, mountArguments))
            return 1;
        // The ended processes were held in LUO requests; they finish dying now that the old connection is gone.
        foreach (int pid in ended)
            ProcessControl.WaitForExit(pid, EndTimeout);
        Console.WriteLine($"liveupdatefs: live update done in {clock.Elapsed.TotalMilliseconds:F0} ms (blackout from freeze to the new boot serving); "
            + $"{(keepProcesses ? "processes kept" : $"{ended.Count} processes ended")}; retrieve the sessions with RETRIEVE_SESSION");
        return 0;
    }

    private string ControlPath => Path.Combine(mountpoint, Envelope.ControlNode);

    /// <summary>status.json; with an expected boot, a daemon between two boots
    /// (its exec) is waited for, so that the answer is "rebooted since", not "not there".</summary>
    private bool ReadStatus(out int daemonPid, out JsonDocument? status)
    {
        var clock = Stopwatch.StartNew();
        while (!ControlCommands.TryReadStatus(mountpoint, out daemonPid, out status))
        {
            if (expectBoot is null || clock.Elapsed > RestartTimeout)
                return false;
            Thread.Sleep(5);
        }
        return true;
    }

    /// <summary>Asks the frozen daemon to commit and exec into the next boot,
    /// and waits until that boot serves (same pid, new boot in status.json).
    /// A daemon that could not exec writes the sessions into the store and
    /// exits; then the next daemon is started from the store.</summary>
    private bool Restart(int daemonPid, string oldBoot, bool supervised, string[] mountArguments)
    {
        Envelope restart = Envelope.NewRestart();
        Errno result = ControlNode.Ioctl(ControlPath, Envelope.Request, restart.Buffer);
        // Unanswered: the daemon died in the commit (the wait below sees it end).
        if (result.IsError && restart.Answered)
        {
            Fail(1, $"the daemon could not commit the reboot ({result.Name}): nothing was committed, the reboot is called off and the emulator serves again; "
                + "sessions of the processes ended above are gone with them, as after a failed kexec. The daemon's log says why; run the reboot again");
            return false;
        }
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < RestartTimeout)
        {
            if (ControlCommands.TryReadStatus(mountpoint, out int pid, out JsonDocument? status))
            {
                using (status)
                {
                    if (pid == daemonPid && status!.RootElement.GetProperty("boot").GetString() != oldBoot)
                        return true;
                }
            }
            if (ProcessControl.WaitForExit(daemonPid, TimeSpan.Zero))
            {
                // Either its exec failed and the sessions are in the store,
                // or it was killed: then in-place memfds died with it.
                StartNextDaemon(daemonPid, supervised, mountArguments);
                Fail(1, $"the daemon (pid {daemonPid}) ended instead of restarting; its log says whether the sessions are in the store "
                    + "or it was killed (then kept memfds died with it, as memory in a crash, and an uncommitted durable reboot left the previous state). Use --durable where the daemon may be killed");
                return false;
            }
            Thread.Sleep(2);
        }
        Fail(1, $"the next boot did not serve {mountpoint} within {RestartTimeout.TotalSeconds} s; see the daemon's log");
        return false;
    }

    private bool StartNextDaemon(int oldPid, bool supervised, string[] mountArguments)
    {
        if (supervised ? AwaitSupervisorRestart(oldPid) : Cli.Build().Parse(mountArguments).Invoke() == 0)
            return true;
        Fail(1, $"the new daemon did not start (see above); the handed-over state is safe in the store: start it with: liveupdatefs {string.Join(' ', mountArguments)}");
        return false;
    }

    /// <summary>status.json's boot id as the freeze names it (0: any boot).</summary>
    private static ulong BootNumber(string boot) =>
        ulong.TryParse(boot, System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out ulong id) ? id : 0;

    /// <summary>An unanswered freeze whose connection went away while the
    /// daemon lives on: it waited behind another reboot, whose next boot now
    /// serves (the daemon execs: same pid, new boot).</summary>
    private bool RebootedMeanwhile(Errno result, int daemonPid, string boot)
    {
        if (result != Errno.ENOTCONN && result != Errno.ECONNABORTED)
            return false;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < RestartTimeout && !ProcessControl.WaitForExit(daemonPid, TimeSpan.Zero))
        {
            if (ControlCommands.TryReadStatus(mountpoint, out int pid, out JsonDocument? status))
            {
                using (status)
                    return pid == daemonPid && status!.RootElement.GetProperty("boot").GetString() != boot;
            }
            Thread.Sleep(5);
        }
        return false;
    }

    private int FreezeFailed(Errno result, Envelope freeze, int daemonPid, string boot)
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
        if (answered && result == Errno.ESTALE || !answered && RebootedMeanwhile(result, daemonPid, boot))
            return Fail(1, "the emulator rebooted since this command looked (ESTALE): another reboot ran first, this one was refused and changed nothing. "
                + "Reboot again only if you want a second live update");
        if (answered)
            return Fail(1, $"the freeze failed with {result.Name}: nothing changed, every session stays as it was and the emulator keeps serving. "
                + "The daemon's log says which file could not be frozen");
        if (result == Errno.ENOTCONN || result == Errno.ECONNABORTED || ProcessControl.WaitForExit(daemonPid, TimeSpan.Zero))
            return Fail(1, $"the daemon (pid {daemonPid}) died during the freeze; nothing of this reboot was committed (a crash: the next start boots cold if this boot had opened the device, else into the last committed state). "
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
    /// <see cref="ServiceManager.RestartForLiveUpdate"/> and the unit starts the next one.</summary>
    private bool AwaitSupervisorRestart(int oldPid)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < RestartTimeout)
        {
            if (ControlCommands.TryReadStatus(mountpoint, out int pid) && pid != oldPid)
            {
                Console.WriteLine($"liveupdatefs: the supervisor started the new daemon, pid {pid}");
                return true;
            }
            Thread.Sleep(10);
        }
        Console.Error.WriteLine($"liveupdatefs reboot: the supervisor did not start a new daemon within {RestartTimeout.TotalSeconds} s; "
            + $"the unit needs RestartForceExitStatus={ServiceManager.RestartForLiveUpdate} (see contrib/systemd/liveupdatefs.service)");
        return false;
    }

    private static string Size(long bytes) => bytes >= 1 << 20 ? $"{bytes / (double)(1 << 20):F1} MiB" : $"{bytes} bytes";

    private static int Fail(int code, string message)
    {
        Console.Error.WriteLine($"liveupdatefs reboot: {message}");
        return code;
    }
}
