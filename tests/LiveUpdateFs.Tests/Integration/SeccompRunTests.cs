using System.Text.Json;
using System.Text.RegularExpressions;

namespace LiveUpdateFs.Tests.Integration;

/// <summary>
/// `liveupdatefs run`'s seccomp user-notification filter, through
/// tests/c/trap_stages (dynamic and -static builds). The C suite under `run`
/// (CConformanceTests) checks the uAPI answers; these check what only the
/// filter can get wrong: a whole process tree served, fds leaving the tree,
/// a caller killed inside a notification, the one free fd slot the kernel
/// needs, raw syscalls, requests on other files, the extra trapped calls,
/// nesting, refusals, and a tree that outlives a reboot.
/// </summary>
[TestFixture]
[NonParallelizable]
[Category("Integration")]
public sealed partial class SeccompRunTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromMinutes(2);

    private static readonly string[] Durable = ["--durable"];

    private static string Trap(ClientMode mode) => MountedEmulator.CTestPath("trap_stages", mode);

    private static ProcessResult RunTrap(MountedEmulator emulator, ClientMode mode, params string[] arguments) =>
        emulator.RunCTest("trap_stages", mode, arguments, timeout: Bound);

    [TestCase(ClientMode.Seccomp)]
    [TestCase(ClientMode.SeccompStatic)]
    [Description("a program under run forks and execs itself (two levels, three at once on one device fd) and forks without exec; every process gets real session fds: lowest free number, FD_CLOEXEC (closed by the next exec), GET_NAME")]
    public void Every_process_of_the_tree_gets_real_session_fds(ClientMode mode)
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        Tap.AssertAllPassed(RunTrap(emulator, mode, "tree"), $"trap_stages tree ({mode})", emulator);
    }

    [TestCase(ClientMode.Seccomp)]
    [TestCase(ClientMode.SeccompStatic)]
    [Description("docs/behaviour.md §5.4: a session fd made under run passes over a unix socket (SCM_RIGHTS) to a process outside the run tree, which uses it: GET_NAME, PRESERVE_FD")]
    public void Session_fd_leaves_the_run_tree(ClientMode mode)
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        string socket = Path.Combine(emulator.Directory, "pass.sock");
        // The receiver is started by the test itself, without run and without the library.
        using BackgroundProcess receiver = emulator.StartClient(Trap(ClientMode.NoLibrary), ClientMode.NoLibrary, ["receive", socket, "trap-pass"]);
        Assert.That(receiver.WaitForLine("# listening", Bound), Is.True, receiver.Output);

        ProcessResult sender = RunTrap(emulator, mode, "send", socket, "trap-pass");

        Tap.AssertAllPassed(sender, $"trap_stages send ({mode})", emulator);
        Tap.AssertAllPassed(receiver.WaitForExit(Bound), "trap_stages receive (outside run)", emulator);
    }

    [TestCase(ClientMode.Seccomp)]
    [TestCase(ClientMode.SeccompStatic)]
    [Description("a caller SIGKILLed inside a CREATE_SESSION notification (the daemon held in its test pause before installing the fd) leaves no session; the daemon serves the next run and the name can be created again")]
    public void Caller_killed_inside_a_notification_leaves_nothing(ClientMode mode)
    {
        using MountedEmulator emulator = MountedEmulator.Start(environment: new Dictionary<string, string?> { ["LIVEUPDATEFS_TEST_TRAP_PAUSE_MS"] = "3000" });
        int pausesBefore = Regex.Count(emulator.LogTail(100000), "Trap pause");
        using BackgroundProcess caller = emulator.StartClient(Trap(mode), mode, ["create-one", "trap-killed"]);
        Assert.That(caller.WaitForLine("# calling", Bound), Is.True, caller.Output);
        Assert.That(WaitUntil(() => Regex.Count(emulator.LogTail(100000), "Trap pause") > pausesBefore, Bound), Is.True,
            $"the daemon never logged 'Trap pause'\n{caller.Output}\n{emulator.LogTail()}");
        Assert.That(PrintedPid(caller), Is.EqualTo(caller.Pid), "run execs the program in place (same pid)");

        caller.Kill();
        ProcessResult killed = caller.WaitForExit(Bound);

        Assert.That(killed.Output, Does.Not.Contain("# created"), "the kill came inside the request, before its answer");
        // The daemon is still in its pause; once it has gone on, nothing of the dead caller may remain.
        Assert.That(WaitUntil(() => !SessionNames(emulator).Contains("trap-killed") && DeviceHolders(emulator).Count == 0, Bound), Is.True,
            $"a session or a device holder of the killed caller remains:\n{emulator.Cli(["status", "--mountpoint", emulator.Mountpoint, "--json"]).Output}\n{emulator.LogTail()}");
        Assert.That(MountedEmulator.IsAlive(emulator.DaemonPid), Is.True, "the daemon lives");

        Tap.AssertAllPassed(RunTrap(emulator, mode, "create-one", "trap-killed"), "trap_stages create-one trap-killed (again)", emulator);
        Tap.AssertAllPassed(RunTrap(emulator, mode, "create-one", "trap-after"), "trap_stages create-one trap-after", emulator);
        Assert.That(SessionNames(emulator), Is.Empty, "the runs closed their sessions");
    }

    [TestCase(ClientMode.Seccomp, false)]
    [TestCase(ClientMode.SeccompStatic, false)]
    [TestCase(ClientMode.SeccompStatic, true)]
    [Description("docs/behaviour.md §4.2, §4.4, §4.1: after a reboot, with RLIMIT_NOFILE leaving exactly one free slot RETRIEVE_SESSION, RETRIEVE_FD and CREATE_SESSION succeed in that slot; with none they fail with EMFILE before the request runs (an unknown name or token too) and the session or file stays retrievable")]
    public void One_free_fd_slot_is_enough_and_none_is_EMFILE(ClientMode mode, bool durable)
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        ProcessResult old = RunTrap(emulator, mode, "emfile-old");
        int holder = HolderPid(old);
        try
        {
            Tap.AssertAllPassed(old, $"trap_stages emfile-old ({mode})", emulator);
            ProcessResult reboot = emulator.Reboot(null, durable ? Durable : []);
            Assert.That(reboot.ExitCode, Is.Zero, reboot.Output + emulator.LogTail());

            Tap.AssertAllPassed(RunTrap(emulator, mode, "emfile-new"), $"trap_stages emfile-new ({mode})", emulator);
        }
        finally
        {
            if (holder > 0 && MountedEmulator.IsAlive(holder))
                LiveUpdateFs.Interop.Signals.Kill(holder);
        }
    }

    [Test]
    [Description("a trapped RETRIEVE_FD that needs both slow steps, a 2 MiB zero-tail scan and the restore of a 4 MiB memfd from the store after a durable reboot, is answered (both run off the listener thread while the call is held; it once failed with EIO)")]
    public void A_call_needing_a_tail_scan_and_a_restore_is_served()
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        ProcessResult old = RunTrap(emulator, ClientMode.SeccompStatic, "bigtail-old");
        int holder = HolderPid(old);
        try
        {
            Tap.AssertAllPassed(old, "trap_stages bigtail-old", emulator);
            ProcessResult reboot = emulator.Reboot(null, Durable);
            Assert.That(reboot.ExitCode, Is.Zero, reboot.Output + emulator.LogTail());

            Tap.AssertAllPassed(RunTrap(emulator, ClientMode.SeccompStatic, "bigtail-new"), "trap_stages bigtail-new", emulator);
        }
        finally
        {
            if (holder > 0 && MountedEmulator.IsAlive(holder))
                LiveUpdateFs.Interop.Signals.Kill(holder);
        }
    }

    [TestCase(ClientMode.Seccomp)]
    [TestCase(ClientMode.SeccompStatic)]
    [Description("every request through syscall(SYS_ioctl, ...) (no libc ioctl wrapper), under run")]
    public void Raw_syscall_client_is_served(ClientMode mode)
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        Tap.AssertAllPassed(RunTrap(emulator, mode, "raw"), $"trap_stages raw ({mode})", emulator);
    }

    [Test]
    [Description("0xBA00, 0xBA01, 0xBA41 on files that are not the emulator's (/dev/null, a pipe, a regular file, a socket, status.json, a closed fd, -1) and FIONREAD/ftruncate/fallocate on other files get the same answer under run (dynamic, static) as outside it, the struct untouched, no fd installed")]
    public void Requests_on_other_files_get_the_kernels_answer()
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        ProcessResult outside = RunTrap(emulator, ClientMode.NoLibrary, "nonluo");
        Tap.AssertAllPassed(outside, "trap_stages nonluo (outside run)", emulator);
        string[] expected = ErrnoLines(outside);
        Assert.That(expected, Has.Length.EqualTo(21), outside.Output);

        foreach (ClientMode mode in new[] { ClientMode.Seccomp, ClientMode.SeccompStatic })
        {
            ProcessResult under = RunTrap(emulator, mode, "nonluo");
            Tap.AssertAllPassed(under, $"trap_stages nonluo ({mode})", emulator);
            Assert.That(under.Output, Does.Contain("# seccomp mode 2"), "it did run under the filter");
            Assert.That(ErrnoLines(under), Is.EqualTo(expected), $"{mode}: the errnos differ from the kernel's");
        }
    }

    [TestCase(ClientMode.Seccomp)]
    [TestCase(ClientMode.SeccompStatic)]
    [Description("docs/behaviour.md §2.1, §2.2, §8.2: under run FIONREAD on the device and on a session fd is EINVAL and ftruncate/fallocate of a preserved memfd EPERM (also through another open file, in a child, never on an ordinary memfd, no more after the session's close); with --only-fd-requests the VFS answers FIONREAD (0) and ftruncate is the real call")]
    public void Fidelity_calls_follow_the_kernel_unless_only_fd_requests(ClientMode mode)
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        Tap.AssertAllPassed(RunTrap(emulator, mode, "fidelity", "kernel"), $"trap_stages fidelity kernel ({mode})", emulator);

        ProcessResult narrow = RunUnder(emulator, ["--only-fd-requests"], Trap(mode), "fidelity", "vfs");
        Tap.AssertAllPassed(narrow, $"trap_stages fidelity vfs (run --only-fd-requests, {mode})", emulator);
    }

    [TestCase(ClientMode.Seccomp)]
    [TestCase(ClientMode.SeccompStatic)]
    [Description("`run` inside a run tree for the same mount just execs (same pid), and the program is served")]
    public void Nested_run_for_the_same_mount_execs_in_place(ClientMode mode)
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        using BackgroundProcess nested = emulator.StartClient(Repository.Daemon, ClientMode.Seccomp,
            ["run", "--mountpoint", emulator.Mountpoint, "--", Trap(mode), "create-one", "trap-nested"]);

        ProcessResult result = nested.WaitForExit(Bound);

        Tap.AssertAllPassed(result, $"trap_stages create-one under two runs ({mode})", emulator);
        Assert.That(PrintedPid(result.Output), Is.EqualTo(nested.Pid), "both runs exec'd in place");
        Assert.That(result.Output, Does.Contain("# seccomp mode 2"));
    }

    [Test]
    [Description("LIVEUPDATEFS_SECCOMP alone does not make a process part of a run tree (an exported variable, an environment copied into a process outside the tree): run outside a tree still installs the filter, and the program is served")]
    public void Run_outside_a_tree_installs_the_filter_despite_a_stale_variable()
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        ProcessResult result = emulator.RunCTest("trap_stages", ClientMode.SeccompStatic, ["create-one", "trap-stale"],
            new Dictionary<string, string?> { ["LIVEUPDATEFS_SECCOMP"] = emulator.Mountpoint }, Bound);

        Tap.AssertAllPassed(result, "trap_stages create-one (run with a stale LIVEUPDATEFS_SECCOMP)", emulator);
        Assert.That(result.Output, Does.Contain("# seccomp mode 2"), "the filter is installed");
    }

    [Test]
    [Description("`run --preload` is the library mechanism, exec'd in place, without a filter")]
    public void Run_preload_execs_with_the_library()
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        using BackgroundProcess run = emulator.StartClient(Repository.Daemon, ClientMode.NoLibrary,
            ["run", "--mountpoint", emulator.Mountpoint, "--preload", "--", Trap(ClientMode.Preload), "create-one", "trap-preload"]);

        ProcessResult result = run.WaitForExit(Bound);

        Tap.AssertAllPassed(result, "trap_stages create-one (run --preload)", emulator);
        Assert.That(PrintedPid(result.Output), Is.EqualTo(run.Pid), "exec'd in place");
        Assert.That(result.Output, Does.Contain("# seccomp mode 0"), "--preload installs no filter");
    }

    [Test]
    [Description("`run` refuses at once with exit 2 and a message when no daemon serves the mountpoint (an empty directory, a missing one) or when the process is already under another mount's listener (naming --preload); a missing program is 127")]
    public void Run_refuses_clearly_when_it_cannot_serve()
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        string empty = Directory.CreateTempSubdirectory("liveupdatefs-nomount-").FullName;
        try
        {
            foreach (string mountpoint in new[] { empty, Path.Combine(empty, "missing") })
            {
                ProcessResult refused = ProcessRunner.Run(Repository.Daemon, ["run", "--mountpoint", mountpoint, "--", Trap(ClientMode.SeccompStatic), "create-one", "x"],
                    CleanEnvironment(), TimeSpan.FromSeconds(60));
                Assert.Multiple(() =>
                {
                    Assert.That(refused.TimedOut, Is.False, $"run without a daemon at {mountpoint} hangs");
                    Assert.That(refused.ExitCode, Is.EqualTo(2), refused.Output);
                    Assert.That(refused.Output, Does.Contain("liveupdatefs run: "), refused.Output);
                    Assert.That(refused.Output, Does.Not.Contain("# calling"), "the program never ran");
                });
            }
        }
        finally
        {
            Directory.Delete(empty, recursive: true);
        }

        using MountedEmulator other = MountedEmulator.Start();
        ProcessResult stacked = emulator.RunClient(Repository.Daemon, ClientMode.Seccomp,
            ["run", "--mountpoint", other.Mountpoint, "--", Trap(ClientMode.SeccompStatic), "create-one", "x"], timeout: TimeSpan.FromSeconds(60));
        Assert.Multiple(() =>
        {
            Assert.That(stacked.ExitCode, Is.EqualTo(2), stacked.Output);
            Assert.That(stacked.Output, Does.Contain("liveupdatefs run: ").And.Contain("--preload"), stacked.Output);
            Assert.That(stacked.Output, Does.Not.Contain("# calling"));
        });

        ProcessResult missing = emulator.RunClient(Path.Combine(emulator.Directory, "no-such-program"), ClientMode.Seccomp, [], timeout: TimeSpan.FromSeconds(60));
        Assert.That(missing.ExitCode, Is.EqualTo(127), missing.Output);
    }

    [TestCase(false)]
    [TestCase(true)]
    [Description("a run tree whose program holds no emulator fd outlives `reboot --keep-processes` and is served by the next boot (the listener is kept across the daemon's exec): RETRIEVE_SESSION, RETRIEVE_FD, CREATE_SESSION, also in a child forked after the reboot")]
    public void Run_tree_is_served_across_a_reboot(bool durable)
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        using BackgroundProcess survivor = emulator.StartClient(Trap(ClientMode.SeccompStatic), ClientMode.SeccompStatic, ["survivor"]);
        Assert.That(survivor.WaitForLine("# ready", Bound), Is.True, survivor.Output);
        int holder = HolderPid(new ProcessResult(0, survivor.Output, false));
        try
        {
            ProcessResult reboot = emulator.Reboot(null, durable ? ["--keep-processes", "--durable"] : ["--keep-processes"]);
            Assert.That(reboot.ExitCode, Is.Zero, reboot.Output + emulator.LogTail());
            Assert.That(reboot.Output, Does.Contain("froze 1 sessions, 1 files"), reboot.Output);
            Assert.That(MountedEmulator.IsAlive(survivor.Pid), Is.True, "the program (no emulator fd) outlived the reboot");

            Assert.That(ProcessRunner.Run("kill", ["-USR1", $"{survivor.Pid}"]).ExitCode, Is.Zero);
            Tap.AssertAllPassed(survivor.WaitForExit(Bound), $"trap_stages survivor ({(durable ? "durable" : "in place")})", emulator);
        }
        finally
        {
            if (holder > 0 && MountedEmulator.IsAlive(holder))
                LiveUpdateFs.Interop.Signals.Kill(holder);
        }
    }

    [TestCase(false)]
    [TestCase(true)]
    [Description("every other syscall is untouched: once the daemon that served a run tree is gone (unmount, or killed), the calls the filter traps on files that are not the emulator's (ftruncate/fallocate of an ordinary memfd, FIONREAD on a pipe, 0xBA00 on /dev/null) are still the kernel's own, not ENOSYS; and the next daemon mounted there serves the tree again (the keeper hands it the listener)")]
    public void Calls_on_other_files_stay_the_kernels_when_the_daemon_is_gone(bool killed)
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        using BackgroundProcess tree = emulator.StartClient(Trap(ClientMode.SeccompStatic), ClientMode.SeccompStatic, ["outlive"]);
        Assert.That(tree.WaitForLine("# ready", Bound), Is.True, tree.Output);

        if (killed)
            emulator.KillDaemon();
        else
            Assert.That(emulator.Cli(["unmount", "--mountpoint", emulator.Mountpoint]).ExitCode, Is.Zero);
        Assert.That(ProcessRunner.Run("kill", ["-USR1", $"{tree.Pid}"]).ExitCode, Is.Zero);
        Assert.That(tree.WaitForLine("# gone-checked", Bound), Is.True, tree.Output);

        // The keeper offers the listener to the next daemon on the mountpoint (docs/seccomp.md §7).
        int servedBefore = ListenersServed(emulator);
        emulator.Mount();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (ListenersServed(emulator) == servedBefore && clock.Elapsed < Bound)
            Thread.Sleep(50);
        Assert.That(ListenersServed(emulator), Is.GreaterThan(servedBefore), "the keeper handed the listener to the next daemon\n" + emulator.LogTail());
        Assert.That(ProcessRunner.Run("kill", ["-USR1", $"{tree.Pid}"]).ExitCode, Is.Zero);

        Tap.AssertAllPassed(tree.WaitForExit(Bound), $"trap_stages outlive (daemon {(killed ? "killed" : "unmounted")})", emulator);
    }

    private static int ListenersServed(MountedEmulator emulator) =>
        System.Text.RegularExpressions.Regex.Count(emulator.LogTail(400), "Serving the seccomp listener");

    [Test]
    [Description("docs/behaviour.md §7: a trapped CREATE_SESSION that comes while the boot is frozen waits, and is served as if nothing happened once the freeze is called off (its reboot client died)")]
    public void Trapped_call_held_by_a_freeze_is_served_when_it_is_called_off()
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        emulator.RunStage("crash-new");
        // The device is opened before the freeze (an open would wait for the thaw on the FUSE path).
        using BackgroundProcess held = emulator.StartClient(Trap(ClientMode.SeccompStatic), ClientMode.SeccompStatic, ["create-one", "trap-held", "wait"]);
        Assert.That(held.WaitForLine("# ready", Bound), Is.True, held.Output);
        using BackgroundProcess client = emulator.StartClient(Path.Combine(Repository.CTests, "control_stages"), ClientMode.NoLibrary, ["freeze", "inplace", "hang"]);
        Assert.That(client.WaitForLine("# frozen", Bound), Is.True, client.Output);

        Assert.That(ProcessRunner.Run("kill", ["-USR1", $"{held.Pid}"]).ExitCode, Is.Zero);
        Assert.That(held.WaitForLine("# calling", Bound), Is.True, held.Output);
        Assert.That(WaitUntil(() => Wchan(held.Pid).Contains("seccomp", StringComparison.Ordinal), Bound), Is.True,
            $"the CREATE_SESSION waits inside its seccomp notification (wchan {Wchan(held.Pid)})\n{held.Output}\n{emulator.LogTail()}");
        client.Kill();

        Tap.AssertAllPassed(held.WaitForExit(Bound), "trap_stages create-one (held by a freeze, then served)", emulator);
        Assert.That(emulator.LogTail(), Does.Contain("ended before it asked for the restart"), "called off by the client's end, not by the freeze timeout");
    }

    private static string Wchan(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/wchan");
        }
        catch (IOException)
        {
            return "";
        }
    }

    /// <summary>`liveupdatefs run --mountpoint M OPTIONS -- PROGRAM ARGS` with the test runner's library variables removed.</summary>
    private static ProcessResult RunUnder(MountedEmulator emulator, string[] options, string program, params string[] arguments)
    {
        Dictionary<string, string?> environment = CleanEnvironment();
        environment["LIVEUPDATE_DEVICE"] = emulator.Device;
        return ProcessRunner.Run(Repository.Daemon, ["run", "--mountpoint", emulator.Mountpoint, .. options, "--", program, .. arguments], environment, Bound);
    }

    private static Dictionary<string, string?> CleanEnvironment() =>
        new() { ["LD_PRELOAD"] = null, ["LIVEUPDATEFS_MOUNTPOINT"] = null, ["LIVEUPDATEFS_SECCOMP"] = null };

    private static bool WaitUntil(Func<bool> condition, TimeSpan timeout)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout)
                return false;
            Thread.Sleep(50);
        }
        return true;
    }

    private static int PrintedPid(BackgroundProcess process) => PrintedPid(process.Output);

    private static int PrintedPid(string output)
    {
        Match pid = PidLine().Match(output);
        return pid.Success ? int.Parse(pid.Groups[1].Value) : -1;
    }

    private static int HolderPid(ProcessResult result)
    {
        Match holder = HolderLine().Match(result.Output);
        return holder.Success ? int.Parse(holder.Groups[1].Value) : 0;
    }

    private static string[] ErrnoLines(ProcessResult result) =>
        result.Output.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.StartsWith("# errno ", StringComparison.Ordinal)).ToArray();

    private static List<string> SessionNames(MountedEmulator emulator)
    {
        using JsonDocument status = Status(emulator);
        return status.RootElement.GetProperty("sessions").EnumerateArray().Select(s => s.GetProperty("name").GetString()!).ToList();
    }

    private static List<int> DeviceHolders(MountedEmulator emulator)
    {
        using JsonDocument status = Status(emulator);
        return status.RootElement.TryGetProperty("deviceHolders", out JsonElement holders)
            ? holders.EnumerateArray().Select(h => h.ValueKind == JsonValueKind.Number ? h.GetInt32() : h.GetProperty("pid").GetInt32()).ToList()
            : [];
    }

    /// <summary>`status --json`: the command fills in the holders (status.json alone has none).</summary>
    private static JsonDocument Status(MountedEmulator emulator)
    {
        ProcessResult status = emulator.Cli(["status", "--mountpoint", emulator.Mountpoint, "--json"]);
        Assert.That(status.ExitCode, Is.Zero, status.Output);
        return JsonDocument.Parse(status.Output);
    }

    [GeneratedRegex(@"^# pid (\d+)$", RegexOptions.Multiline)]
    private static partial Regex PidLine();

    [GeneratedRegex(@"^# holder pid (\d+)$", RegexOptions.Multiline)]
    private static partial Regex HolderLine();
}
