using System.Text.Json;

namespace LiveUpdateFs.Tests.Integration;

/// <summary>
/// Live update across a daemon restart (docs/behaviour.md §7, §3, §4.2, §4.4, §4.5, §5.2,
/// docs/behaviour.md §8): tests/c/reboot_stages runs before and after `liveupdatefs reboot`.
/// </summary>
[TestFixture]
[NonParallelizable]
[Category("Integration")]
public sealed class RebootTests
{
    private static Dictionary<string, string?> Fault(string fault) => new() { ["LIVEUPDATEFS_FAULT"] = fault };

    private static readonly string[] Durable = ["--durable"];

    // the same stages as a -static build under `liveupdatefs run`, where only the
    // seccomp filter can hand out the session and memfd fds (and the holder a stage forks
    // inherits the filter), in both reboot modes.
    [TestCase(false, ClientMode.Preload)]
    [TestCase(true, ClientMode.Preload)]
    [TestCase(false, ClientMode.SeccompStatic)]
    [TestCase(true, ClientMode.SeccompStatic)]
    [Description("docs/behaviour.md §7, §4.2, §4.4, §4.5, §5.2, §8: sessions and memfds cross two reboots with every property, in place and durable; unretrieved incoming sessions do not cross the second")]
    public void Sessions_survive_reboots_with_every_property(bool durable, ClientMode mode)
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        int holder = emulator.RunStage("stage1", mode);

        ProcessResult reboot = emulator.Reboot(null, durable ? Durable : []);
        Assert.That(reboot.ExitCode, Is.Zero, reboot.Output + emulator.LogTail());
        Assert.That(reboot.Output, Does.Contain("froze 7 sessions, 15 files"), "'closed-before' is not handed over");
        Assert.That(reboot.Output, Does.Contain(durable ? "(copied into the store)" : "(kept in place)"));
        Assert.That(reboot.Output, Does.Contain($"ended 1 processes holding emulator fds: {holder}"));
        Assert.That(MountedEmulator.IsAlive(holder), Is.False, "the holder was ended, as a kexec ends every process");

        emulator.RunStage("stage2", mode);
        ProcessResult second = emulator.Reboot(null, durable ? Durable : []);
        Assert.That(second.ExitCode, Is.Zero, second.Output + emulator.LogTail());
        Assert.That(second.Output, Does.Contain("froze 1 sessions, 2 files"), "only the outgoing 'gen2'; the unretrieved incoming session is dropped");

        emulator.RunStage("stage3", mode);
    }

    [Test]
    [Description("docs/behaviour.md §7 in place: the daemon execs itself (same pid, new boot) with the memfds open; the store gets records only, no data")]
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

    [TestCase(false)]
    [TestCase(true)]
    [Description("docs/behaviour.md §7: a daemon stopped while a freeze waits for its restart hands the frozen sessions over durably (an in-place image is written again with the data); the next start boots into them")]
    public void Stop_while_frozen_writes_the_sessions_durably(bool durable)
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        emulator.RunStage("crash-old");
        using System.Diagnostics.Process client = StartControlClient(emulator, "freeze", durable ? "durable" : "inplace", "hang");
        Assert.That(client.StandardOutput.ReadLine(), Does.Contain("FREEZE"));
        Assert.That(client.StandardOutput.ReadLine(), Is.EqualTo("# frozen"));

        ProcessResult stopped = emulator.Cli(["unmount", "--mountpoint", emulator.Mountpoint]);
        client.Kill();

        Assert.That(stopped.ExitCode, Is.Zero, stopped.Output);
        Assert.That(emulator.LogTail(), Does.Contain("2 sessions with 3 files are handed over"));
        Assert.That(Directory.EnumerateFiles(Path.Combine(emulator.Store, emulator.CommittedGeneration!)).Select(Path.GetFileName),
            Is.EquivalentTo(new[] { "manifest", "data" }), "the 3 files' data, packed");
        emulator.Mount();
        Assert.That(CrashCheck(emulator), Is.EqualTo("old"));
    }

    [Test]
    [Description("docs/behaviour.md §4.4, §8.6: an in-place RETRIEVE_FD that fails releases its kept memfd at once (FINISH has nothing more to do for it); the daemon keeps no memfd after the sessions are finished")]
    public void A_failed_in_place_retrieve_releases_its_kept_memfd()
    {
        using MountedEmulator emulator = MountedEmulator.Start(environment: new Dictionary<string, string?> { ["LIVEUPDATEFS_FAULT_NEXT"] = "fail@retrieve-fd" });
        emulator.RunStage("crash-old");
        ProcessResult reboot = emulator.Reboot();
        Assert.That(reboot.ExitCode, Is.Zero, reboot.Output + emulator.LogTail());
        int daemon = emulator.DaemonPid;
        Assert.That(Memfds(daemon), Is.EqualTo(3), "the kept memfds");

        ProcessResult check = emulator.RunCTest("reboot_stages", "crash-check");

        Assert.That(check.Output, Does.Contain("not ok 2 - [§4.4] RETRIEVE_FD old-a token 1"), check.Output);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (Memfds(daemon) > 0 && clock.Elapsed < TimeSpan.FromSeconds(10))
            Thread.Sleep(20);
        Assert.That(Memfds(daemon), Is.Zero, "no kept memfd is left behind");
    }

    /// <summary>How many memfds a process holds open.</summary>
    private static int Memfds(int pid) =>
        Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd")
            .Count(fd => new FileInfo(fd).LinkTarget?.StartsWith("/memfd:", StringComparison.Ordinal) == true);

    [TestCase("fail@restart", false)]
    [TestCase("fail@restart", true)]
    [TestCase("fail@pointer-rename", false)]
    [TestCase("fail@pointer-rename", true)]
    [Description("docs/behaviour.md §7: a commit that fails at the restart calls the reboot off: the command fails with the error, nothing is committed, the boot serves again with every session of a process that was kept, and a retry succeeds")]
    public void Failed_commit_calls_the_reboot_off(string fault, bool durable)
    {
        using MountedEmulator emulator = MountedEmulator.Start(environment: Fault(fault));
        int holder = emulator.RunStage("crash-new");
        string before = StatusSessions(emulator);
        string[] mode = durable ? Durable : [];

        ProcessResult reboot = emulator.Reboot(null, ["--keep-processes", .. mode]);

        Assert.Multiple(() =>
        {
            Assert.That(reboot.ExitCode, Is.EqualTo(1), reboot.Output);
            Assert.That(reboot.Output, Does.Contain("could not commit the reboot (EIO)"));
            Assert.That(MountedEmulator.IsAlive(holder), Is.True);
            Assert.That(emulator.CommittedGeneration, Is.Null, "nothing was committed");
            Assert.That(Directory.EnumerateDirectories(emulator.Store, "gen-*"), Is.Empty, "the aborted generation is removed");
            Assert.That(StatusSessions(emulator), Is.EqualTo(before), "the sessions are as they were");
        });
        ProcessResult retry = emulator.Reboot(null, mode);
        Assert.That(retry.ExitCode, Is.Zero, retry.Output + emulator.LogTail());
        Assert.That(CrashCheck(emulator), Is.EqualTo("new"));
    }

    private static System.Diagnostics.Process StartControlClient(MountedEmulator emulator, params string[] arguments)
    {
        var start = new System.Diagnostics.ProcessStartInfo(Path.Combine(Repository.CTests, "control_stages")) { UseShellExecute = false, RedirectStandardOutput = true };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        start.Environment["LIVEUPDATE_DEVICE"] = emulator.Device;
        return System.Diagnostics.Process.Start(start)!;
    }

    [Test]
    [Description("docs/behaviour.md §7 in place: SIGKILL at every checkpoint of the freeze, the commit and the restart leaves no state (a crash during a kexec): before the commit the old generation was already handed over to this boot, after it the kept memfds died with the daemon; the log says which")]
    public void SIGKILL_during_an_in_place_reboot_leaves_no_state()
    {
        var states = KillAtEveryCheckpoint(durable: false);

        Assert.That(states, Has.Count.GreaterThanOrEqualTo(8), "at least 8 kill points");
        Assert.That(states.Select(s => s.State), Is.All.EqualTo("none"));
        int firstDied = states.FindIndex(s => s.Loss == Loss.KeptMemfdsDied);
        Assert.That(firstDied, Is.Positive, "kills before the commit find the consumed old generation, after it the new one's memfds gone");
        Assert.That(states.Take(firstDied).Select(s => s.Loss), Is.All.EqualTo(Loss.AlreadyHandedOver));
        Assert.That(states.Skip(firstDied).Select(s => s.Loss), Is.All.EqualTo(Loss.KeptMemfdsDied));
    }

    [Test]
    [Description("docs/behaviour.md §7: SIGTERM (unmount, docker stop) performs the same freeze; the next start boots into the sessions")]
    public void SIGTERM_hands_over_like_a_reboot()
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
    [Description("docs/behaviour.md §7: --keep-processes leaves the holders running (their fds belong to the old boot)")]
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
    [Description("docs/design.md §10.4: a daemon that loads the preload library (as under /etc/ld.so.preload) is not served by it: freeze, exec and restore do not wait for themselves")]
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
    [Description("docs/behaviour.md §8.4, §4.4: a damaged stored page gives EIO for that file, again on retry; the other file is intact")]
    public void Corrupted_content_gives_EIO_for_that_file_only()
    {
        using MountedEmulator emulator = StartAndReboot("corrupt1", durable: true);

        // Token 1 was preserved first: its bytes open the generation's pack.
        string data = Path.Combine(emulator.Store, emulator.CommittedGeneration!, "data");
        byte[] bytes = File.ReadAllBytes(data);
        bytes[1234] ^= 0x40;
        File.WriteAllBytes(data, bytes);

        emulator.RunStage("corrupt2");
        Assert.That(emulator.LogTail(), Does.Contain("fail their checksum"));
    }

    [TestCase("fail@freeze-file#2", false)]
    [TestCase("fail@freeze-file#2", true)]
    [TestCase("fail@content-fsync", true)]
    [TestCase("fail@manifest-write", false)]
    [TestCase("fail@manifest-write", true)]
    [Description("docs/behaviour.md §7: a freeze that fails rolls back: the reboot fails with the error, nothing changed, service continues, a later reboot succeeds")]
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
    [Description("docs/behaviour.md §7: a failure after the pointer's rename (its directory fsync) leaves the new state committed and complete: the reboot succeeds with a warning")]
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
    [Description("docs/behaviour.md §7: SIGKILL of the daemon at every checkpoint of freeze and commit: the restart sees no state (the old one was handed over to the boot that died, as to a kernel that crashed) or the new state, complete")]
    public void SIGKILL_at_every_checkpoint_leaves_no_state_or_the_new_state()
    {
        var states = KillAtEveryCheckpoint(durable: true);

        Assert.That(states, Has.Count.GreaterThanOrEqualTo(20), "at least 20 kill points");
        int firstNew = states.FindIndex(s => s.State == "new");
        Assert.That(firstNew, Is.Positive, "early kills leave no state, a kill after the commit the new one");
        Assert.That(states.Take(firstNew).Select(s => (s.State, s.Loss)), Is.All.EqualTo(("none", Loss.AlreadyHandedOver)),
            "the old generation was consumed at crash-new's open of the device");
        Assert.That(states.Skip(firstNew).Select(s => s.State), Is.All.EqualTo("new"), "once committed, the new state stays");
    }

    [TestCase(true)]
    [TestCase(false)]
    [Explicit("long mode (scripts/faults): about two minutes per case")]
    [Category("Long")]
    [Description("docs/behaviour.md §7: SIGKILL at 100 random checkpoints of freeze, commit and restart: each restart finds exactly the state the sweep found for that point, complete")]
    public void SIGKILL_at_100_random_checkpoints_finds_what_the_sweep_found(bool durable)
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

    /// <summary>What the restarted daemon's log says it lost.</summary>
    private enum Loss
    {
        Nothing,
        AlreadyHandedOver,
        KeptMemfdsDied,
    }

    /// <summary>
    /// From a committed crash-old state, crash-new and a reboot whose daemon
    /// is SIGKILLed at checkpoint 3, 4, ... until a reboot gets past them all
    /// (checkpoints 1 and 2 are the first load and its consumed mark, when
    /// crash-new opens the device: Sigkill_at_the_first_load and
    /// ConsumedHandoverTests cover them); then crash-check says which state
    /// the next daemon found.
    /// </summary>
    private static List<(int Point, string State, Loss Loss)> KillAtEveryCheckpoint(bool durable) =>
        KillAt(Enumerable.Range(3, 97), durable);

    /// <summary>The same at the given checkpoints; stops early when a reboot is not killed.</summary>
    private static List<(int Point, string State, Loss Loss)> KillAt(IEnumerable<int> points, bool durable)
    {
        string template = Directory.CreateTempSubdirectory("liveupdatefs-old-").FullName;
        using (MountedEmulator old = StartAndReboot("crash-old", durable: true))
            CopyStore(old.Store, template);

        var states = new List<(int Point, string State, Loss Loss)>();
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
            // The command starts no daemon (how to mount one is never taken from status.json): it says to, and the user mounts again.
            bool restartTold = reboot.Output.Contains("ended instead of restarting") && reboot.Output.Contains($"liveupdatefs mount --mountpoint {emulator.Mountpoint}");
            Assert.That(restartTold || reboot.Output.Contains("died during the freeze"), Is.True, $"kill@{point}: {reboot.Output}");
            // The reboot hears of the death when the FUSE connection drops, a moment
            // before the dying daemon's last files (the store lock) are released.
            Assert.That(LiveUpdateFs.Interop.ProcessExit.Wait(killed, TimeSpan.FromSeconds(10)), Is.True, $"kill@{point}: the daemon ends");
            emulator.Mount();
            string state = CrashCheck(emulator);
            string log = emulator.LogTail();
            states.Add((point, state, log.Contains("was already handed over") ? Loss.AlreadyHandedOver
                : log.Contains("died with it") ? Loss.KeptMemfdsDied : Loss.Nothing));
        }
        TestContext.Out.WriteLine(string.Join('\n', states.Select(s => $"kill@{s.Point}: {s.State}")));
        TestContext.Out.WriteLine($"kill points ({(durable ? "durable" : "in place")}): {states.Count}; "
            + string.Join(", ", states.GroupBy(s => s.State).Select(g => $"{g.Key} {g.Count()}")));
        Directory.Delete(template, recursive: true);
        return states;
    }

    [Test]
    [Description("docs/behaviour.md §3: SIGKILL while the first open loads the incoming sessions: the open fails, the restart loads them whole")]
    public void SIGKILL_at_the_first_load_keeps_the_committed_state()
    {
        using MountedEmulator emulator = StartAndReboot("crash-old", durable: true);
        emulator.KillDaemon(); // before anyone opened the device: nothing is consumed yet
        emulator.Mount(Fault("kill@load"));

        ProcessResult killed = emulator.RunCTest("reboot_stages", "crash-check");
        Assert.That(killed.Output, Does.Contain("not ok 1 - [§3] open the device"), "the daemon died in the open");

        emulator.Mount();
        Assert.That(CrashCheck(emulator), Is.EqualTo("old"));
    }

    [Test]
    [Description("docs/behaviour.md §3: an unreadable store fails the first open with EIO and every later one; the log names the file")]
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

    [TestCase(false)]
    [TestCase(true)]
    [Description("docs/behaviour.md §7 under systemd (Type=notify): a reboot, in place or durable, keeps the main pid and says READY=1 again from the next boot")]
    public void Under_a_supervisor_a_reboot_keeps_the_main_pid(bool durable)
    {
        using MountedEmulator emulator = MountedEmulator.Create();
        using System.Net.Sockets.Socket notify = NotifySocket(emulator, out string socketPath);
        using System.Diagnostics.Process daemon = StartSupervised(ForegroundMount(emulator), socketPath);
        Assert.That(Receive(notify), Does.Contain("READY=1"));
        emulator.RunStage("crash-old");

        ProcessResult reboot = emulator.Reboot(null, durable ? Durable : []);

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

    private static string CrashCheck(MountedEmulator emulator) => emulator.CrashCheck();

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
}
