using System.Diagnostics;
using System.Text.Json;

namespace LiveUpdateFs.Tests.Integration;

/// <summary>
/// The reboot as one state machine against real mounts: reboots
/// started together, a reboot client that dies or stays silent between
/// FREEZE and RESTART, a creator that dies before it takes its session fd.
/// tests/c/control_stages speaks the control requests by hand.
/// </summary>
[TestFixture]
[NonParallelizable]
[Category("Integration")]
public sealed class RebootStateTests
{
    private static readonly string[] Durable = ["--durable"];

    [TestCase(2, false)]
    [TestCase(3, false)]
    [TestCase(2, true)]
    [TestCase(3, true)]
    [Description("reboot commands of one boot started together (--expect-boot: a command that starts late is not a second live update), several rounds: exactly one reboots, the others are refused with a clear message, the store stays readable and every session comes back exactly once")]
    public void Concurrent_reboots_give_one_reboot_and_every_session_once(int commands, bool durable)
    {
        using MountedEmulator emulator = MountedEmulator.Start(logLevel: "information");
        for (int round = 0; round < 4; round++)
        {
            emulator.RunStage("crash-new");
            string boot = Boot(emulator)!;
            using var start = new Barrier(commands);
            Task<ProcessResult>[] reboots = Enumerable.Range(0, commands)
                .Select(_ => Task.Run(() =>
                {
                    start.SignalAndWait();
                    return emulator.Reboot(null, ["--expect-boot", boot, .. durable ? Durable : []]);
                }))
                .ToArray();
            ProcessResult[] results = reboots.Select(r => r.Result).ToArray();
            string all = string.Join("\n---\n", results.Select(r => $"exit {r.ExitCode}: {r.Output}"));

            Assert.That(results.Count(r => r.ExitCode == 0), Is.EqualTo(1), $"round {round}: exactly one reboot\n{all}\n{emulator.LogTail()}");
            foreach (ProcessResult refused in results.Where(r => r.ExitCode != 0))
                Assert.That(refused.Output, Does.Match("another reboot is under way \\(EBUSY\\)|rebooted since .* \\(ESTALE\\)"),
                    $"round {round}: a refusal says why\n{all}");
            Assert.That(emulator.CrashCheck(), Is.EqualTo("new"), $"round {round}: every session back, once\n{all}");
        }
    }

    [TestCase(false)]
    [TestCase(true)]
    [Description("FREEZE, FREEZE, RESTART on the control node: the second is EBUSY, the store is untouched by it, the first reboot completes")]
    public void Freeze_freeze_restart_reboots_once(bool durable)
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        emulator.RunStage("crash-new");
        string boot = Boot(emulator)!;

        ProcessResult control = emulator.RunCTest("control_stages", "freeze", durable ? "durable" : "inplace", "twice");

        Tap.AssertAllPassed(control, "control_stages freeze twice", emulator);
        WaitUntil(() => Boot(emulator) is { } b && b != boot, "the next boot serves");
        Assert.That(emulator.CrashCheck(), Is.EqualTo("new"));
        ProcessResult again = emulator.Reboot(null, durable ? Durable : []);
        Assert.That(again.ExitCode, Is.Zero, again.Output + emulator.LogTail());
    }

    [TestCase(false)]
    [TestCase(true)]
    [Description("the reboot client killed between FREEZE and RESTART: held callers are released at once, nothing is lost, a retry succeeds")]
    public void A_reboot_client_killed_after_its_freeze_thaws_the_boot(bool durable)
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        emulator.RunStage("crash-new");
        using Process client = StartClient(emulator, "freeze", durable ? "durable" : "inplace", "hang");
        WaitForLine(client, "# frozen");
        Task<ProcessResult> held = Task.Run(() => emulator.RunCTest("control_stages", "absent", "never-created"));
        Thread.Sleep(300);
        Assert.That(held.IsCompleted, Is.False, "a LUO caller waits while the boot is frozen");

        client.Kill();

        Assert.That(held.Wait(TimeSpan.FromSeconds(10)), Is.True, "the held caller is served once the client is gone");
        Tap.AssertAllPassed(held.Result, "control_stages absent (held, then served)", emulator);
        Assert.That(emulator.LogTail(), Does.Contain("called off"));
        Assert.That(RebootPhase(emulator), Is.EqualTo("serving"));
        Assert.That(emulator.CommittedGeneration, Is.Null, "nothing was committed");
        ProcessResult retry = emulator.Reboot(null, durable ? Durable : []);
        Assert.That(retry.ExitCode, Is.Zero, retry.Output + emulator.LogTail());
        Assert.That(emulator.CrashCheck(), Is.EqualTo("new"));
    }

    [Test]
    [Description("progress text never blocks the FUSE thread. A durable FREEZE of a 65 MiB preserved memfd whose progress terminal (channel_fd) is a full pipe nobody reads: the FREEZE and another process's status.json read are answered at once; the text arrives once the pipe drains; the sender's exit thaws the boot")]
    public void A_durable_freeze_whose_progress_pipe_is_full_stalls_nobody()
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        using BackgroundProcess stage = BackgroundProcess.Start(Path.Combine(Repository.CTests, "control_stages"), ["full-progress"],
            new Dictionary<string, string?> { ["LIVEUPDATE_DEVICE"] = emulator.Device });
        int holder = 0;
        try
        {
            // The stage bounds every wait itself (1 s, 2 s, 5 s, 20 s) and drains the
            // pipe even when the daemon did not answer, so a daemon stuck on it goes on.
            bool finished = stage.Exits(TimeSpan.FromSeconds(60));
            System.Text.RegularExpressions.Match line = System.Text.RegularExpressions.Regex.Match(stage.Output, @"# holder pid (\d+)");
            holder = line.Success ? int.Parse(line.Groups[1].Value) : 0;
            Assert.That(finished, Is.True, $"the stage ended within 60 s: {stage.Output}");
            Assert.That(stage.WaitForLine("12 passed, 0 failed", TimeSpan.FromSeconds(5)), Is.True, stage.Output + "\n" + emulator.LogTail());
            Assert.That(RebootPhase(emulator), Is.EqualTo("serving"));
            Assert.That(emulator.CommittedGeneration, Is.Null, "nothing was committed");
        }
        finally
        {
            if (holder > 0 && MountedEmulator.IsAlive(holder))
                LiveUpdateFs.Interop.Signals.Kill(holder);
        }
    }

    [Test]
    [Description("a reboot client that stays silent after its freeze: the freeze is called off at --freeze-timeout and held callers are served")]
    public void A_silent_reboot_client_is_called_off_at_the_timeout()
    {
        using MountedEmulator emulator = MountedEmulator.Create();
        ProcessResult mounted = emulator.Cli(["mount", "--mountpoint", emulator.Mountpoint, "--store", emulator.Store, "--link", "none",
            "--freeze-timeout", "2"]);
        Assert.That(mounted.ExitCode, Is.Zero, mounted.Output);
        emulator.RunStage("crash-new");
        using Process client = StartClient(emulator, "freeze", "inplace", "hang");
        WaitForLine(client, "# frozen");

        ProcessResult held = emulator.RunCTest("control_stages", "absent", "never-created");

        Tap.AssertAllPassed(held, "control_stages absent (held until the timeout)", emulator);
        Assert.That(client.HasExited, Is.False, "the client still hangs: the timeout, not its exit, thawed the boot");
        Assert.That(emulator.LogTail(), Does.Contain("did not ask for the restart within 2 s"));
        client.Kill();
        ProcessResult retry = emulator.Reboot();
        Assert.That(retry.ExitCode, Is.Zero, retry.Output + emulator.LogTail());
        Assert.That(emulator.CrashCheck(), Is.EqualTo("new"));
    }

    [TestCase(false)]
    [TestCase(true)]
    [Description("a creator killed between PREPARE and the open of its session node: its session is dropped at once and never handed over")]
    public void A_session_whose_creator_died_before_taking_it_is_not_handed_over(bool durable)
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        emulator.RunStage("crash-new");

        ProcessResult phantom = emulator.RunCTest("control_stages", "phantom", "phantom");
        Tap.AssertAllPassed(phantom, "control_stages phantom", emulator);
        WaitUntil(() => !SessionNames(emulator).Contains("phantom"), "the phantom session is dropped once its creator is gone");

        ProcessResult reboot = emulator.Reboot(null, durable ? Durable : []);
        Assert.That(reboot.ExitCode, Is.Zero, reboot.Output + emulator.LogTail());
        Assert.That(reboot.Output, Does.Contain("froze 3 sessions"));
        Tap.AssertAllPassed(emulator.RunCTest("control_stages", "absent", "phantom"), "control_stages absent phantom", emulator);
        Assert.That(emulator.CrashCheck(), Is.EqualTo("new"));
    }

    [Test]
    [Description("a holder in another mount namespace, whose fds name the mount by another path, is found and ended by the reboot like any other")]
    public void A_holder_in_another_mount_namespace_is_ended()
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        string alternative = Path.Combine(emulator.Directory, "alt");
        Directory.CreateDirectory(alternative);
        string script = $"mount --bind '{emulator.Mountpoint}' '{alternative}' && LIVEUPDATE_DEVICE='{alternative}/liveupdate' "
            + $"LIVEUPDATEFS_MOUNTPOINT='{alternative}' exec '{Path.Combine(Repository.CTests, "reboot_stages")}' crash-new";
        ProcessResult stage = emulator.RunClient("/usr/bin/unshare", ClientMode.Preload, ["-m", "--propagation", "private", "/bin/sh", "-c", script]);
        Assert.That(stage.Output, Does.Contain("10 passed, 0 failed"), stage.Output);
        int holder = int.Parse(System.Text.RegularExpressions.Regex.Match(stage.Output, @"# holder pid (\d+)").Groups[1].Value);

        ProcessResult reboot = emulator.Reboot();

        Assert.That(reboot.ExitCode, Is.Zero, reboot.Output + emulator.LogTail());
        Assert.That(reboot.Output, Does.Contain($"ended 1 processes holding emulator fds: {holder}"));
        Assert.That(LiveUpdateFs.Interop.ProcessExit.Wait(holder, TimeSpan.FromSeconds(10)), Is.True, "the holder was ended");
        Assert.That(emulator.CrashCheck(), Is.EqualTo("new"));
    }

    [Test]
    [Description("a holder that opened the device and then entered a new mount namespace (a sandboxed service) is found and ended by the reboot; its fd keeps the id of the mount it was opened on")]
    public void A_holder_that_unshared_after_its_open_is_ended()
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        var start = new ProcessStartInfo(Path.Combine(Repository.CTests, "control_stages")) { UseShellExecute = false, RedirectStandardOutput = true };
        start.ArgumentList.Add("unshared-holder");
        start.ArgumentList.Add("sandboxed");
        start.Environment["LIVEUPDATE_DEVICE"] = emulator.Device;
        start.Environment["LD_PRELOAD"] = Repository.PreloadLibrary;
        start.Environment["LIVEUPDATEFS_MOUNTPOINT"] = emulator.Mountpoint;
        using Process holder = Process.Start(start)!;
        WaitForLine(holder, $"# holder pid {holder.Id}");

        ProcessResult reboot = emulator.Reboot();

        Assert.That(reboot.ExitCode, Is.Zero, reboot.Output + emulator.LogTail());
        Assert.That(reboot.Output, Does.Contain($"ended 1 processes holding emulator fds: {holder.Id}"));
        Assert.That(holder.WaitForExit(10_000), Is.True, "the holder was ended");
    }

    [Test]
    [Description("a requesting thread's fd hand-overs it never takes are capped at 64 (EMFILE at the reserve step), cost the daemon one pidfd in all, and are dropped (their sessions discarded) when the requester ends")]
    public void Pending_hand_overs_are_capped_per_thread_cost_one_pidfd_and_are_dropped_at_the_requesters_end()
    {
        const int Attempts = 200;
        using MountedEmulator emulator = MountedEmulator.Start(logLevel: "information");
        int daemon = emulator.DaemonPid;
        int before = FdCount(daemon);
        using Process client = StartClient(emulator, "prepare-hang", $"{Attempts}");
        string prepared = WaitForLine(client, "# prepared");
        int during = FdCount(daemon);
        client.Kill();

        Assert.That(prepared, Does.Contain($"prepared {MaxPendingPerThread} refused {Attempts - MaxPendingPerThread}"),
            "a thread holds at most 64 hand-overs it has not taken; the others fail at the reserve step with EMFILE");
        // One pidfd for the requester, however many hand-overs it has; and the
        // maps file and pidfd of its calling thread (MappingGuard), until it exits.
        Assert.That(during - before, Is.InRange(1, 4), "a few fds for the requester, however many hand-overs it has");
        WaitUntil(() => FdCount(daemon) <= before + 1 && SessionNames(emulator).Count == 0, "every pending hand-over is dropped");
    }

    /// <summary>FdHandover.MaxPendingPerThread (internal to the Fuse layer).</summary>
    private const int MaxPendingPerThread = 64;

    [Test]
    [Description("status: a session's holder is still listed after someone looked its node up again (the node exists while the session's fd does: the holder's fd keeps its name)")]
    public void Session_holders_stay_listed_after_a_lookup_of_their_node()
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        int holder = emulator.RunStage("crash-new");
        string node = Directory.EnumerateFileSystemEntries($"/proc/{holder}/fd")
            .Select(fd => new FileInfo(fd).LinkTarget ?? "").First(t => t.Contains(".lufs-session-"));
        Assert.That(SessionHolders(emulator), Is.All.EqualTo(new[] { holder }));

        Assert.That(File.Exists(node), Is.True, "the node of a session whose fd exists is there");

        Assert.That(Directory.EnumerateFileSystemEntries($"/proc/{holder}/fd").Select(fd => new FileInfo(fd).LinkTarget ?? ""),
            Does.Contain(node), "the holder's fd still names the node");
        Assert.That(SessionHolders(emulator), Is.All.EqualTo(new[] { holder }));
    }

    private static int FdCount(int pid) => Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd").Count();

    private static List<int[]> SessionHolders(MountedEmulator emulator)
    {
        // `status` finds the holders itself (the daemon never scans /proc: docs/blocking.md).
        ProcessResult json = emulator.Cli(["status", "--mountpoint", emulator.Mountpoint, "--json"]);
        Assert.That(json.ExitCode, Is.Zero, json.Output);
        using JsonDocument status = JsonDocument.Parse(json.Output);
        return status.RootElement.GetProperty("sessions").EnumerateArray()
            .Select(s => s.GetProperty("holders").EnumerateArray().Select(h => h.GetInt32()).ToArray()).ToList();
    }

    private static Process StartClient(MountedEmulator emulator, params string[] arguments)
    {
        var start = new ProcessStartInfo(Path.Combine(Repository.CTests, "control_stages")) { UseShellExecute = false, RedirectStandardOutput = true };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        start.Environment["LIVEUPDATE_DEVICE"] = emulator.Device;
        return Process.Start(start)!;
    }

    /// <summary>The first line of the client's output that starts with <paramref name="prefix"/>.</summary>
    private static string WaitForLine(Process process, string prefix)
    {
        Task<string?> read = Task.Run(() =>
        {
            for (string? l = process.StandardOutput.ReadLine(); l is not null; l = process.StandardOutput.ReadLine())
            {
                if (l.StartsWith(prefix, StringComparison.Ordinal))
                    return l;
            }
            return null;
        });
        Assert.That(read.Wait(TimeSpan.FromSeconds(20)) && read.Result is not null, Is.True, $"the client printed \"{prefix}\"");
        return read.Result!;
    }

    private static void WaitUntil(Func<bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(20)), what);
            Thread.Sleep(20);
        }
    }

    private static string? Boot(MountedEmulator emulator)
    {
        using JsonDocument? status = emulator.Status();
        return status?.RootElement.GetProperty("boot").GetString();
    }

    private static string RebootPhase(MountedEmulator emulator)
    {
        using JsonDocument status = emulator.Status() ?? throw new AssertionException("no daemon answers status.json");
        return status.RootElement.GetProperty("reboot").GetString()!;
    }

    private static List<string> SessionNames(MountedEmulator emulator)
    {
        // `status` finds the holders itself (the daemon never scans /proc: docs/blocking.md).
        ProcessResult json = emulator.Cli(["status", "--mountpoint", emulator.Mountpoint, "--json"]);
        Assert.That(json.ExitCode, Is.Zero, json.Output);
        using JsonDocument status = JsonDocument.Parse(json.Output);
        return status.RootElement.GetProperty("sessions").EnumerateArray().Select(s => s.GetProperty("name").GetString()!).ToList();
    }
}
