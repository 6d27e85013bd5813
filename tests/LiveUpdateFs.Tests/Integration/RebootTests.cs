using System.Text.Json;
using System.Text.RegularExpressions;

namespace LiveUpdateFs.Tests.Integration;

/// <summary>
/// Live update across a daemon restart (spec §7, §3, §4.2, §4.4, §4.5, §5.2,
/// §8): tests/c/reboot_stages runs before and after `liveupdatefs reboot`.
/// </summary>
[TestFixture]
[NonParallelizable]
[Category("Integration")]
public sealed partial class RebootTests
{
    private static Dictionary<string, string?> Fault(string fault) => new() { ["LIVEUPDATEFS_FAULT"] = fault };

    private static readonly string[] Durable = ["--durable"];

    [TestCase(false)]
    [TestCase(true)]
    [Description("§7, §4.2, §4.4, §4.5, §5.2, §8: sessions and memfds cross two reboots with every property, in place and durable; unretrieved incoming sessions do not cross the second")]
    public void Sessions_survive_reboots_with_every_property(bool durable)
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        int holder = emulator.RunStage("stage1");

        ProcessResult reboot = emulator.Reboot(null, durable ? Durable : []);
        Assert.That(reboot.ExitCode, Is.Zero, reboot.Output + emulator.LogTail());
        Assert.That(reboot.Output, Does.Contain("froze 7 sessions, 15 files"), "'closed-before' is not handed over");
        Assert.That(reboot.Output, Does.Contain(durable ? "(copied into the store)" : "(kept in place)"));
        Assert.That(reboot.Output, Does.Contain($"ended 1 processes holding emulator fds: {holder}"));
        Assert.That(MountedEmulator.IsAlive(holder), Is.False, "the holder was ended, as a kexec ends every process");

        emulator.RunStage("stage2");
        ProcessResult second = emulator.Reboot(null, durable ? Durable : []);
        Assert.That(second.ExitCode, Is.Zero, second.Output + emulator.LogTail());
        Assert.That(second.Output, Does.Contain("froze 1 sessions, 2 files"), "only the outgoing 'gen2'; the unretrieved incoming session is dropped");

        emulator.RunStage("stage3");
    }

    [Test]
    [Description("§7 in place: the daemon execs itself (same pid, new boot) with the memfds open; the store gets records only, no data")]
    public void In_place_reboot_keeps_the_memfds_and_copies_nothing()
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        emulator.RunStage("crash-old");
        (int pid, string boot) = PidAndBoot(emulator);

        ProcessResult reboot = emulator.Reboot();

        Assert.That(reboot.ExitCode, Is.Zero, reboot.Output + emulator.LogTail());
        (int newPid, string newBoot) = PidAndBoot(emulator);
        Assert.That(newPid, Is.EqualTo(pid), "the same process, exec'd");
        Assert.That(newBoot, Is.Not.EqualTo(boot), "a new boot");
        string generation = Path.Combine(emulator.Store, emulator.CommittedGeneration!);
        Assert.That(Directory.EnumerateFiles(generation).Select(Path.GetFileName), Is.EquivalentTo(new[] { "manifest", "kept" }),
            "records only: the 192 KiB of memfd data stayed in the memfds");
        Assert.That(CrashCheck(emulator), Is.EqualTo("old"));
    }

    [Test]
    [Description("§7: a daemon stopped after an in-place freeze, without its restart, writes the frozen sessions into the store; the next start boots into them")]
    public void Stop_after_an_in_place_freeze_writes_the_sessions_durably()
    {
        using MountedEmulator emulator = MountedEmulator.Start(environment: Fault("fail@restart"));
        emulator.RunStage("crash-old");

        ProcessResult reboot = emulator.Reboot();
        Assert.That(reboot.ExitCode, Is.EqualTo(1), reboot.Output);
        Assert.That(reboot.Output, Does.Contain("did not restart in place (EIO)").And.Contain("liveupdatefs unmount"));

        ProcessResult stopped = emulator.Cli(["unmount", "--mountpoint", emulator.Mountpoint]);
        Assert.That(stopped.ExitCode, Is.Zero, stopped.Output);
        Assert.That(emulator.LogTail(), Does.Contain("frozen for an in-place reboot were written into the store instead"));
        Assert.That(Directory.EnumerateFiles(Path.Combine(emulator.Store, emulator.CommittedGeneration!), "data-*"), Has.Exactly(3).Items);
        emulator.Mount();
        Assert.That(CrashCheck(emulator), Is.EqualTo("old"));
    }

    [Test]
    [Description("§7 in place: SIGKILL at every checkpoint of the freeze, the commit and the restart leaves the old state or, once the kept memfds were committed and died with the daemon, none (a crash during a kexec); never part of either")]
    public void Sigkill_during_an_in_place_reboot_leaves_the_old_state_or_none()
    {
        var states = KillAtEveryCheckpoint(durable: false);

        Assert.That(states, Has.Count.GreaterThanOrEqualTo(8), "at least 8 kill points");
        int firstNone = states.FindIndex(s => s.State == "none");
        Assert.That(firstNone, Is.Positive, "kills before the commit leave the old state, after it nothing");
        Assert.That(states.Take(firstNone).Select(s => s.State), Is.All.EqualTo("old"));
        Assert.That(states.Skip(firstNone).Select(s => s.State), Is.All.EqualTo("none"));
        Assert.That(states.Skip(firstNone).Select(s => s.LossLogged), Is.All.True, "the log says what was lost");
    }

    [Test]
    [Description("§7: SIGTERM (unmount, docker stop) performs the same freeze; the next start boots into the sessions")]
    public void Sigterm_hands_over_like_a_reboot()
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        emulator.RunStage("crash-old");

        ProcessResult stopped = emulator.Cli(["unmount", "--mountpoint", emulator.Mountpoint]);
        Assert.That(stopped.ExitCode, Is.Zero, stopped.Output);
        Assert.That(emulator.LogTail(), Does.Contain("2 sessions with 3 files are handed over"));
        emulator.Mount();

        Assert.That(CrashCheck(emulator), Is.EqualTo("old"));
    }

    [TestCase(false)]
    [TestCase(true)]
    [Description("§7: --keep-processes leaves the holders running (their fds belong to the old boot)")]
    public void Keep_processes_leaves_holders_running(bool durable)
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        int holder = emulator.RunStage("crash-old");

        ProcessResult reboot = emulator.Reboot(null, ["--keep-processes", .. durable ? Durable : []]);

        Assert.That(reboot.ExitCode, Is.Zero, reboot.Output + emulator.LogTail());
        Assert.That(MountedEmulator.IsAlive(holder), Is.True);
        Assert.That(CrashCheck(emulator), Is.EqualTo("old"));
    }

    [TestCase(false)]
    [TestCase(true)]
    [Description("design.md: a daemon that loads the preload library (as under /etc/ld.so.preload) is not served by it: freeze, exec and restore do not wait for themselves")]
    public void Daemon_with_the_library_preloaded_is_not_served_by_it(bool durable)
    {
        var preloaded = new Dictionary<string, string?> { ["LD_PRELOAD"] = Repository.PreloadLibrary };
        using MountedEmulator emulator = MountedEmulator.Start(environment: preloaded);
        preloaded["LIVEUPDATEFS_MOUNTPOINT"] = emulator.Mountpoint;
        emulator.RunStage("crash-old");

        ProcessResult reboot = emulator.Reboot(preloaded, durable ? Durable : []);

        Assert.That(reboot.ExitCode, Is.Zero, reboot.Output + emulator.LogTail());
        Assert.That(CrashCheck(emulator), Is.EqualTo("old"), "RETRIEVE_FD restores (ftruncate) inside the daemon");
    }

    [Test]
    [Description("§8.4, §4.4: a damaged stored page gives EIO for that file, again on retry; the other file is intact")]
    public void Corrupted_content_gives_EIO_for_that_file_only()
    {
        using MountedEmulator emulator = StartAndReboot("corrupt1", durable: true);

        // Token 1 was preserved first: its content is the generation's first data file.
        string data = Path.Combine(emulator.Store, emulator.CommittedGeneration!, "data-000000");
        byte[] bytes = File.ReadAllBytes(data);
        bytes[1234] ^= 0x40;
        File.WriteAllBytes(data, bytes);

        emulator.RunStage("corrupt2");
        Assert.That(emulator.LogTail(), Does.Contain("fail their checksum"));
    }

    [TestCase("fail@freeze-file#2", false)]
    [TestCase("fail@freeze-file#2", true)]
    [TestCase("fail@content-fsync#4", true)]
    [TestCase("fail@manifest-write", false)]
    [TestCase("fail@manifest-write", true)]
    [TestCase("fail@pointer-rename", true)]
    [Description("§7: a freeze that fails rolls back: the reboot fails with the error, nothing changed, service continues, a later reboot succeeds")]
    public void Failed_freeze_rolls_back_and_service_continues(string fault, bool durable)
    {
        using MountedEmulator emulator = MountedEmulator.Start(environment: Fault(fault));
        int holder = emulator.RunStage("crash-new");
        string before = StatusSessions(emulator);
        string[] mode = durable ? Durable : [];

        ProcessResult reboot = emulator.Reboot(null, mode);

        Assert.Multiple(() =>
        {
            Assert.That(reboot.ExitCode, Is.EqualTo(1), reboot.Output);
            Assert.That(reboot.Output, Does.Contain("failed with EIO: nothing changed"));
            Assert.That(MountedEmulator.IsAlive(holder), Is.True, "no process is ended when the freeze fails");
            Assert.That(emulator.CommittedGeneration, Is.Null, "nothing was committed");
            Assert.That(Directory.EnumerateDirectories(emulator.Store, "gen-*"), Is.Empty, "the aborted generation is removed");
            Assert.That(StatusSessions(emulator), Is.EqualTo(before), "the sessions are as they were");
        });

        ProcessResult retry = emulator.Reboot(null, mode);
        Assert.That(retry.ExitCode, Is.Zero, retry.Output + emulator.LogTail());
        Assert.That(CrashCheck(emulator), Is.EqualTo("new"));
    }

    [TestCase(false)]
    [TestCase(true)]
    [Description("§7: a failure after the pointer's rename (its directory fsync) leaves the new state committed and complete: the reboot succeeds with a warning")]
    public void Failed_fsync_after_the_commit_keeps_the_new_state(bool durable)
    {
        using MountedEmulator emulator = MountedEmulator.Start(environment: Fault("fail@pointer-fsync"));
        emulator.RunStage("crash-new");

        ProcessResult reboot = emulator.Reboot(null, durable ? Durable : []);

        Assert.That(reboot.ExitCode, Is.Zero, reboot.Output + emulator.LogTail());
        Assert.That(emulator.LogTail(), Does.Contain("is committed, but fsync of the store"));
        Assert.That(CrashCheck(emulator), Is.EqualTo("new"));
    }

    [Test]
    [Description("§7: SIGKILL of the daemon at every checkpoint of freeze and commit: the restart sees the old or the new state, complete")]
    public void Sigkill_at_every_checkpoint_leaves_the_old_or_the_new_state()
    {
        var states = KillAtEveryCheckpoint(durable: true);

        Assert.That(states, Has.Count.GreaterThanOrEqualTo(20), "at least 20 kill points");
        int firstNew = states.FindIndex(s => s.State == "new");
        Assert.That(firstNew, Is.Positive, "early kills leave the old state, a kill after the commit the new one");
        Assert.That(states.Skip(firstNew).Select(s => s.State), Is.All.EqualTo("new"), "once committed, the new state stays");
    }

    [TestCase(true)]
    [TestCase(false)]
    [Explicit("long mode (scripts/faults): about two minutes per case")]
    [Category("Long")]
    [Description("§7: SIGKILL at 100 random checkpoints of freeze, commit and restart: each restart finds exactly the state the sweep found for that point, complete")]
    public void Sigkill_at_100_random_checkpoints_finds_what_the_sweep_found(bool durable)
    {
        var sweep = KillAtEveryCheckpoint(durable);
        int seed = int.TryParse(Environment.GetEnvironmentVariable("LIVEUPDATEFS_FAULT_SEED"), out int given) ? given : Random.Shared.Next();
        TestContext.Out.WriteLine($"seed {seed} (LIVEUPDATEFS_FAULT_SEED repeats it)");
        var random = new Random(seed);
        int[] points = Enumerable.Range(0, 100).Select(_ => sweep[random.Next(sweep.Count)].Point).ToArray();

        var states = KillAt(points, durable);

        Assert.That(states.Select(s => s.Point), Is.EqualTo(points), "every point killed the daemon");
        Assert.That(states.Select(s => s.State), Is.EqualTo(points.Select(p => sweep.Single(x => x.Point == p).State)));
    }

    /// <summary>
    /// From a committed crash-old state, crash-new and a reboot whose daemon
    /// is SIGKILLed at checkpoint 2, 3, ... until a reboot gets past them all
    /// (checkpoint 1 is the first load, when crash-new opens the device:
    /// Sigkill_at_the_first_load covers it); then crash-check says which state
    /// the next daemon found.
    /// </summary>
    private static List<(int Point, string State, bool LossLogged)> KillAtEveryCheckpoint(bool durable) =>
        KillAt(Enumerable.Range(2, 98), durable);

    /// <summary>The same at the given checkpoints; stops early when a reboot is not killed.</summary>
    private static List<(int Point, string State, bool LossLogged)> KillAt(IEnumerable<int> points, bool durable)
    {
        string template = Directory.CreateTempSubdirectory("liveupdatefs-old-").FullName;
        using (MountedEmulator old = StartAndReboot("crash-old", durable: true))
            CopyStore(old.Store, template);

        var states = new List<(int Point, string State, bool LossLogged)>();
        foreach (int point in points)
        {
            using MountedEmulator emulator = MountedEmulator.Create();
            CopyStore(template, emulator.Store);
            emulator.Mount(Fault($"kill@{point}"));
            emulator.RunStage("crash-new");
            int killed = emulator.DaemonPid;

            ProcessResult reboot = emulator.Reboot(null, durable ? Durable : []);
            if (reboot.ExitCode == 0)
                break; // past the last checkpoint: nothing was killed
            if (durable)
            {
                Assert.That(reboot.Output, Does.Contain("died during the freeze"), $"kill@{point}: {reboot.Output}");
                // The reboot hears of the death when the FUSE connection drops, a moment
                // before the dying daemon's last files (the store lock) are released.
                Assert.That(LiveUpdateFs.Interop.ProcessControl.WaitForExit(killed, TimeSpan.FromSeconds(10)), Is.True, $"kill@{point}: the daemon ends");
                emulator.Mount();
            }
            else if (reboot.Output.Contains("ended instead of restarting in place"))
                Assert.That(emulator.Status(), Is.Not.Null, $"kill@{point}: the reboot started the next daemon");
            else
                emulator.Mount();
            string state = CrashCheck(emulator);
            states.Add((point, state, emulator.LogTail().Contains("died with it")));
        }
        TestContext.Out.WriteLine(string.Join('\n', states.Select(s => $"kill@{s.Point}: {s.State}")));
        TestContext.Out.WriteLine($"kill points ({(durable ? "durable" : "in place")}): {states.Count}; "
            + string.Join(", ", states.GroupBy(s => s.State).Select(g => $"{g.Key} {g.Count()}")));
        Directory.Delete(template, recursive: true);
        return states;
    }

    [Test]
    [Description("§3: SIGKILL while the first open loads the incoming sessions: the open fails, the restart loads them whole")]
    public void Sigkill_at_the_first_load_keeps_the_committed_state()
    {
        using MountedEmulator emulator = StartAndReboot("crash-old", durable: true, Fault("kill@load"));

        ProcessResult killed = emulator.RunCTest("reboot_stages", "crash-check");
        Assert.That(killed.Output, Does.Contain("not ok 1 - [§3] open the device"), "the daemon died in the open");

        emulator.Mount();
        Assert.That(CrashCheck(emulator), Is.EqualTo("old"));
    }

    [Test]
    [Description("§3: an unreadable store fails the first open with EIO and every later one; the log names the file")]
    public void Unreadable_store_fails_every_open_with_EIO()
    {
        using MountedEmulator emulator = StartAndReboot("crash-old", durable: true);
        string manifest = Path.Combine(emulator.Store, emulator.CommittedGeneration!, "manifest");
        File.WriteAllText(manifest, "not a manifest");

        for (int attempt = 0; attempt < 2; attempt++)
        {
            ProcessResult check = emulator.RunCTest("reboot_stages", "crash-check");
            Assert.That(check.Output, Does.Contain("open the device (errno 5 (EIO)"), $"open {attempt + 1}: {check.Output}");
        }
        Assert.That(emulator.LogTail(), Does.Contain(manifest).And.Contain("move the store directory aside"));
    }

    [Test]
    [Description("§7 under systemd (Type=notify): READY=1 once serving; a reboot's frozen daemon exits 75 and the supervisor's next start is awaited")]
    public void Under_a_supervisor_the_reboot_waits_for_its_restart()
    {
        using MountedEmulator emulator = MountedEmulator.Create();
        using System.Net.Sockets.Socket notify = NotifySocket(emulator, out string socketPath);
        string[] foreground = ForegroundMount(emulator);

        using System.Diagnostics.Process first = StartSupervised(foreground, socketPath);
        Assert.That(Receive(notify), Does.Contain("READY=1").And.Contain($"MAINPID={first.Id}"));
        emulator.RunStage("crash-old");

        Task<ProcessResult> reboot = Task.Run(() => emulator.Reboot(null, Durable));
        Assert.That(first.WaitForExit(30_000), Is.True, "the frozen daemon exits");
        Assert.That(first.ExitCode, Is.EqualTo(75), "status 75 asks the supervisor for the next boot");
        Assert.That(Receive(notify), Does.Contain("STOPPING=1"));

        using System.Diagnostics.Process second = StartSupervised(foreground, socketPath); // what systemd does
        Assert.That(Receive(notify), Does.Contain("READY=1"));
        ProcessResult result = reboot.Result;
        Assert.That(result.ExitCode, Is.Zero, result.Output + emulator.LogTail());
        Assert.That(result.Output, Does.Contain($"the supervisor started the new daemon, pid {second.Id}"));
        Assert.That(CrashCheck(emulator), Is.EqualTo("old"));
    }

    [Test]
    [Description("§7 under systemd (Type=notify): an in-place reboot keeps the main pid and says READY=1 again from the next boot")]
    public void Under_a_supervisor_an_in_place_reboot_keeps_the_main_pid()
    {
        using MountedEmulator emulator = MountedEmulator.Create();
        using System.Net.Sockets.Socket notify = NotifySocket(emulator, out string socketPath);
        using System.Diagnostics.Process daemon = StartSupervised(ForegroundMount(emulator), socketPath);
        Assert.That(Receive(notify), Does.Contain("READY=1"));
        emulator.RunStage("crash-old");

        ProcessResult reboot = emulator.Reboot();

        Assert.That(reboot.ExitCode, Is.Zero, reboot.Output + emulator.LogTail());
        Assert.That(Receive(notify), Does.Contain("READY=1").And.Contain($"MAINPID={daemon.Id}"), "the next boot, same process");
        Assert.That(daemon.HasExited, Is.False);
        Assert.That(CrashCheck(emulator), Is.EqualTo("old"));
        emulator.Cli(["unmount", "--mountpoint", emulator.Mountpoint]);
        Assert.That(daemon.WaitForExit(20_000), Is.True);
    }

    /// <summary>A supervisor's NOTIFY_SOCKET (what systemd listens on for Type=notify).</summary>
    private static System.Net.Sockets.Socket NotifySocket(MountedEmulator emulator, out string path)
    {
        path = Path.Combine(emulator.Directory, "notify");
        var notify = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Unspecified);
        notify.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(path));
        notify.ReceiveTimeout = 20_000;
        return notify;
    }

    /// <summary>The daemon as a unit's ExecStart runs it.</summary>
    private static string[] ForegroundMount(MountedEmulator emulator) =>
        ["mount", "--foreground", "--mountpoint", emulator.Mountpoint, "--store", emulator.Store, "--link", "none",
         "--log-file", Path.Combine(emulator.Store, "liveupdatefs.log")];

    private static System.Diagnostics.Process StartSupervised(string[] arguments, string notifySocket)
    {
        var start = new System.Diagnostics.ProcessStartInfo(Repository.Daemon) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        start.Environment["NOTIFY_SOCKET"] = notifySocket;
        return System.Diagnostics.Process.Start(start)!;
    }

    private static string Receive(System.Net.Sockets.Socket socket)
    {
        byte[] buffer = new byte[4096];
        return System.Text.Encoding.UTF8.GetString(buffer, 0, socket.Receive(buffer));
    }

    /// <summary>A new emulator after <paramref name="stage"/> and a successful reboot
    /// (whose new daemon gets <paramref name="rebootEnvironment"/>).</summary>
    private static MountedEmulator StartAndReboot(string stage, bool durable, Dictionary<string, string?>? rebootEnvironment = null)
    {
        MountedEmulator emulator = MountedEmulator.Start();
        emulator.RunStage(stage);
        ProcessResult reboot = emulator.Reboot(rebootEnvironment, durable ? Durable : []);
        Assert.That(reboot.ExitCode, Is.Zero, reboot.Output + emulator.LogTail());
        return emulator;
    }

    /// <summary>Runs crash-check (which must pass) and returns the state it found: "old" or "new".</summary>
    private static string CrashCheck(MountedEmulator emulator)
    {
        emulator.RunStage("crash-check", out ProcessResult result);
        Match state = StateLine().Match(result.Output);
        Assert.That(state.Success, Is.True, result.Output);
        return state.Groups[1].Value;
    }

    private static string StatusSessions(MountedEmulator emulator)
    {
        using JsonDocument status = emulator.Status() ?? throw new AssertionException("no daemon answers status.json");
        Assert.That(status.RootElement.GetProperty("frozen").GetBoolean(), Is.False);
        return status.RootElement.GetProperty("sessions").GetRawText();
    }

    /// <summary>The committed state only (pointer and generations), as a backup would copy it.</summary>
    private static void CopyStore(string from, string to)
    {
        Directory.CreateDirectory(to);
        File.Copy(Path.Combine(from, "current"), Path.Combine(to, "current"));
        foreach (string generation in Directory.EnumerateDirectories(from, "gen-*"))
        {
            string target = Path.Combine(to, Path.GetFileName(generation));
            Directory.CreateDirectory(target);
            foreach (string file in Directory.EnumerateFiles(generation))
                File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        }
    }

    private static (int Pid, string Boot) PidAndBoot(MountedEmulator emulator)
    {
        using JsonDocument status = emulator.Status() ?? throw new AssertionException("no daemon answers status.json");
        return (status.RootElement.GetProperty("daemonPid").GetInt32(), status.RootElement.GetProperty("boot").GetString()!);
    }

    [GeneratedRegex(@"^# state (old|new|none)$", RegexOptions.Multiline)]
    private static partial Regex StateLine();
}
