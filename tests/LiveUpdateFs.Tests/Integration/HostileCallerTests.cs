using System.Diagnostics;
using System.Text.RegularExpressions;
using LiveUpdateFs.Interop;

namespace LiveUpdateFs.Tests.Integration;

/// <summary>
/// Callers that try to stall, deadlock or impersonate their way past the
/// daemon: a client in another mount namespace, device requests
/// through status.json and the control node, a full channel socket, a file of
/// a FUSE mount whose daemon is stopped, 4 GiB structs, abandoned and
/// hoarded PREPAREs, a crowd of processes with many fds, and all of them at
/// once beside the load of LoadTests. tests/c/hostile_stages makes the
/// requests; each that could hang runs in a child the stage waits for a
/// bounded time, so a daemon that stops answering is a failure within
/// seconds, and <see cref="HostileMount"/> kills such a daemon at the end.
/// </summary>
[TestFixture]
[NonParallelizable]
[Category("Integration")]
public sealed partial class HostileCallerTests
{
    private const string Seed = "hs";
    private static readonly TimeSpan StageLimit = TimeSpan.FromSeconds(90);

    [Test]
    [Description("a client in another mount namespace (its copy of the mount has an id the daemon's mountinfo lacks) makes every LUO request, PRESERVE_FD of its device fd, of a session fd and of status.json (ENOENT) included: each answered within 1 s, and the daemon keeps serving")]
    public void A_client_in_another_mount_namespace_gets_every_answer_within_a_second()
    {
        using HostileMount mount = HostileMount.Start();
        SeedAndReboot(mount, 1);

        ProcessResult stage = mount.Run(StageLimit, "unshared", Seed);

        Tap.AssertAllPassed(stage, "hostile_stages unshared", mount.Emulator);
        AssertServes(mount);
    }

    [Test]
    [Description("with the device held by an agent, other processes send envelopes (PREPARE of RETRIEVE_SESSION / CREATE_SESSION) and LUO ioctls on status.json and the control node: all refused (ENOTTY for the ioctls), and the agent's sessions are untouched")]
    public void Device_requests_through_status_json_or_the_control_node_are_refused()
    {
        using HostileMount mount = HostileMount.Start();
        SeedAndReboot(mount, 1);

        ProcessResult stage = mount.Run(StageLimit, "backdoor", Seed);

        Tap.AssertAllPassed(stage, "hostile_stages backdoor", mount.Emulator);
        AssertServes(mount);
        AssertNoSessionLeft(mount);
    }

    [Test]
    [Description("a well-behaved GET_NAME loop keeps answering within 1 s while hostile callers send a PREPARE of RETRIEVE_FD over a full channel socket, PRESERVE_FD of a file of a FUSE mount whose daemon is stopped (also opened through another mount namespace), and GET_NAMEs with 4 GiB structs (zero tail: success; non-zero last byte: E2BIG); the hostile ones get their errno within 1 s")]
    public void Hostile_callers_do_not_stall_a_well_behaved_one()
    {
        using HostileMount mount = HostileMount.Start();
        using HostileMount second = HostileMount.Start();
        SeedAndReboot(mount, 1);

        ProcessResult stage = mount.Run(StageLimit, "stall", Seed, second.StatusPath, $"{second.DaemonPid}");

        foreach (string line in stage.Output.Split('\n').Where(l => l.StartsWith("# well-behaved", StringComparison.Ordinal)))
            TestContext.Progress.WriteLine($"hostile: {line[2..]}");
        Tap.AssertAllPassed(stage, "hostile_stages stall", mount.Emulator);
        AssertServes(mount);
    }

    [Test]
    [Description("10,000 clients, 500 at a time, each PREPARE a CREATE_SESSION (the raw envelope) and are SIGKILLed before COMMIT: every PREPARE is answered, the daemon's fds come back to their baseline and the abandoned sessions are gone")]
    public void Ten_thousand_abandoned_prepares_leave_no_daemon_fds()
    {
        using HostileMount mount = HostileMount.Start();

        ProcessResult stage = mount.Run(TimeSpan.FromSeconds(240), "abandon", "10000", "500", $"{mount.DaemonPid}");

        Tap.AssertAllPassed(stage, "hostile_stages abandon", mount.Emulator);
        AssertServes(mount);
        AssertNoSessionLeft(mount);
    }

    [Test]
    [Description("one live process PREPAREs 3000 CREATE_SESSIONs without COMMIT: uncommitted tickets are capped per process (later PREPAREs get an errno), the daemon's fds stay bounded, and all come back when the process ends")]
    public void Uncommitted_prepares_of_one_process_are_capped()
    {
        using HostileMount mount = HostileMount.Start();
        int baseline = mount.DaemonFdCount();

        ProcessResult stage = mount.Run(StageLimit, "prepare-cap", "3000", $"{mount.DaemonPid}");

        TestContext.Out.WriteLine(stage.Output);
        int after = WaitFor(() => mount.DaemonFdCount(), fds => fds <= baseline + 1, TimeSpan.FromSeconds(20));
        Assert.Multiple(() =>
        {
            Tap.AssertAllPassed(stage, "hostile_stages prepare-cap", mount.Emulator);
            Assert.That(after, Is.LessThanOrEqualTo(baseline + 1), "the daemon's fds come back once the process has ended");
        });
        AssertServes(mount);
        AssertNoSessionLeft(mount);
    }

    [Test]
    [Description("with 2000 idle processes holding 200 fds each, a new client's first LUO request (CREATE_SESSION through the preload library, which looks up the daemon's pid) completes within 1 s")]
    public void A_crowd_of_processes_with_many_fds_does_not_slow_a_new_clients_first_request()
    {
        using HostileMount mount = HostileMount.Start();
        ProcessResult alone = mount.Run(StageLimit, "first-request");
        Tap.AssertAllPassed(alone, "hostile_stages first-request (no crowd)", mount.Emulator);

        using BackgroundProcess crowd = StartCrowd(mount, 2000, 200);
        try
        {
            ProcessResult crowded = mount.Run(StageLimit, "first-request");

            TestContext.Progress.WriteLine($"hostile: {FirstRequestLine(alone)} alone, {FirstRequestLine(crowded)} beside 2000 x 200 fds");
            Tap.AssertAllPassed(crowded, "hostile_stages first-request (beside the crowd)", mount.Emulator);
        }
        finally
        {
            EndCrowd(crowd);
        }
        AssertServes(mount);
    }

    [Test]
    [Description("a short tour of the hostile long mode: 3 slots of random hostile clients (every kind above) beside the short load (LoadTests) across a reboot, before and after it: the load keeps exactly its model, every hostile request is answered as expected, and no well-behaved request waits 1 s")]
    public void A_short_tour_of_hostile_clients_beside_the_load_loses_nothing()
    {
        SwarmBesideTheLoad(ops: "short", slots: 3, crowd: 0, crowdFds: 0, seed: 12, loadLimit: TimeSpan.FromMinutes(4), swarmAtLeast: TimeSpan.FromSeconds(8));
    }

    [Test]
    [Explicit("long mode (scripts/hostile): LIVEUPDATEFS_HOSTILE_OPS load operations per client (long), LIVEUPDATEFS_HOSTILE_SLOTS (8) hostile slots, a crowd of LIVEUPDATEFS_HOSTILE_CROWD (1000) processes x 200 fds")]
    [Category("Hostile")]
    [Description("many hostile clients at once (every kind, in random loops) and a crowd of idle processes beside the long load (LoadTests) across a reboot: nothing lost, no well-behaved request waits 1 s; prints the well-behaved latency p50/p99/max")]
    public void Many_hostile_clients_beside_the_long_load_lose_nothing()
    {
        string ops = Environment.GetEnvironmentVariable("LIVEUPDATEFS_HOSTILE_OPS") is { Length: > 0 } o ? o : "long";
        int slots = int.TryParse(Environment.GetEnvironmentVariable("LIVEUPDATEFS_HOSTILE_SLOTS"), out int s) && s > 0 ? s : 8;
        int crowd = int.TryParse(Environment.GetEnvironmentVariable("LIVEUPDATEFS_HOSTILE_CROWD"), out int c) && c >= 0 ? c : 1000;
        int seed = int.TryParse(Environment.GetEnvironmentVariable("LIVEUPDATEFS_HOSTILE_SEED"), out int given) ? given : Random.Shared.Next();
        TestContext.Progress.WriteLine($"hostile: seed {seed}, load {ops}, {slots} slots, crowd {crowd} x 200 fds");
        SwarmBesideTheLoad(ops, slots, crowd, crowdFds: 200, seed, loadLimit: TimeSpan.FromMinutes(60), swarmAtLeast: TimeSpan.FromSeconds(30));
    }

    /// <summary>
    /// The hostile mode: seeds for the hostile RETRIEVE_FDs, a reboot, then
    /// twice (load before, reboot, load after) the swarm of hostile clients
    /// runs beside the load stage; the reboot must freeze exactly the load's
    /// model plus the new seeds, the load must find exactly its model, and
    /// each swarm must pass (answers, latency, its seeds intact).
    /// </summary>
    /// <param name="swarmAtLeast">how long each swarm runs at least (a short load ends in seconds; every kind should run).</param>
    private static void SwarmBesideTheLoad(string ops, int slots, int crowd, int crowdFds, int seed, TimeSpan loadLimit, TimeSpan swarmAtLeast)
    {
        using HostileMount mount = HostileMount.Start();
        using HostileMount second = HostileMount.Start();
        BackgroundProcess? crowdProcess = crowd > 0 ? StartCrowd(mount, crowd, crowdFds) : null;
        try
        {
            string model = Path.Combine(mount.Emulator.Directory, "load-model");
            SeedAndReboot(mount, 3);

            ProcessResult before = RunBesideSwarm(mount, second, slots, seed, "before", ["before", model, ops, $"{seed}"], loadLimit, swarmAtLeast);
            Match modelled = ModelLine().Match(before.Output);
            Assert.That(modelled.Success, Is.True, before.Output);

            ProcessResult seeded = Seed3(mount);
            ProcessResult reboot = mount.Emulator.Reboot();
            TestContext.Out.WriteLine(reboot.Output);
            Assert.That(reboot.ExitCode, Is.Zero, reboot.Output + mount.Emulator.LogTail());
            int sessions = int.Parse(modelled.Groups[1].Value) + 3, files = int.Parse(modelled.Groups[2].Value) + 3;
            Assert.That(reboot.Output, Does.Contain($"froze {sessions} sessions, {files} files"),
                $"the reboot freezes exactly the load's model and the 3 seeds: nothing the hostile clients did was kept, nothing of the load lost\n{seeded.Output}");

            RunBesideSwarm(mount, second, slots, seed + 1, "after", ["after", model], loadLimit, swarmAtLeast);
            AssertNoSessionLeft(mount);
        }
        finally
        {
            if (crowdProcess is not null)
            {
                EndCrowd(crowdProcess);
                crowdProcess.Dispose();
            }
        }
    }

    /// <summary>
    /// Starts the swarm, runs load_stages <paramref name="load"/> beside it
    /// (which must pass), stops the swarm (which must pass). A daemon that
    /// stops answering ends the wait at once: the swarm ends early when an
    /// attack gets no answer, and status.json is probed meanwhile.
    /// </summary>
    private static ProcessResult RunBesideSwarm(HostileMount mount, HostileMount second, int slots, int seed, string stage, string[] load,
        TimeSpan loadLimit, TimeSpan swarmAtLeast)
    {
        using BackgroundProcess swarm = mount.StartClient("hostile_stages", preload: true,
            "swarm", Seed, $"{slots}", "7200", $"{seed}", second.StatusPath, $"{second.DaemonPid}");
        try
        {
            bool ready = swarm.WaitForLine(l => l.StartsWith("# swarm ready", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
            Assert.That(ready, Is.True, $"the swarm set itself up\n{swarm.Output}\n{mount.Emulator.LogTail()}");

            using BackgroundProcess loader = mount.StartClient("load_stages", preload: true, load);
            string? stalled = null;
            bool summarized = false;
            var clock = Stopwatch.StartNew();
            int silentProbes = 0;
            TimeSpan nextProbe = TimeSpan.FromSeconds(5);
            while (!(summarized = loader.WaitForLine(HostileMount.IsSummary, TimeSpan.FromSeconds(1))) && !loader.HasExited)
            {
                if (clock.Elapsed > loadLimit)
                    stalled = $"the load did not finish within {loadLimit.TotalMinutes} min";
                else if (swarm.HasExited)
                    stalled = "the swarm ended before the load (an attack got no answer: the daemon stopped answering)";
                else if (clock.Elapsed > nextProbe)
                {
                    nextProbe = clock.Elapsed + TimeSpan.FromSeconds(5);
                    silentProbes = mount.Answers(TimeSpan.FromSeconds(5)) ? 0 : silentProbes + 1;
                    if (silentProbes >= 2)
                        stalled = "status.json was not read within 5 s, twice in a row";
                }
                if (stalled is not null)
                    break;
            }
            ProcessResult loadResult = mount.Finish(loader, summarized, $"load_stages {stage}");
            KillHoldersAtEnd(mount, loadResult);
            while (stalled is null && clock.Elapsed < swarmAtLeast && !swarm.HasExited)
                Thread.Sleep(100);

            Signals.Terminate(swarm.Pid);
            bool done = swarm.WaitForLine(HostileMount.IsSummary, TimeSpan.FromSeconds(stalled is null ? 90 : 10));
            ProcessResult swarmResult = mount.Finish(swarm, done, $"hostile_stages swarm ({stage})");
            foreach (string line in swarmResult.Output.Split('\n').Where(l => l.StartsWith("# well-behaved", StringComparison.Ordinal) || l.StartsWith("# hostile", StringComparison.Ordinal)))
                TestContext.Progress.WriteLine($"hostile ({stage}): {line[2..]}");
            Assert.Multiple(() =>
            {
                Assert.That(stalled, Is.Null, $"{stalled}\n--- swarm\n{swarmResult.Output}\n--- load\n{loadResult.Output}\n{mount.Emulator.LogTail()}");
                Tap.AssertAllPassed(swarmResult, $"hostile_stages swarm ({stage})", mount.Emulator);
                Tap.AssertAllPassed(loadResult, $"load_stages {stage} beside the hostile clients", mount.Emulator);
            });
            return loadResult;
        }
        finally
        {
            if (!swarm.HasExited)
                Signals.Terminate(swarm.Pid);
        }
    }

    private static ProcessResult Seed3(HostileMount mount)
    {
        ProcessResult seeded = mount.Run(StageLimit, "seed", Seed, "3");
        KillHoldersAtEnd(mount, seeded);
        Tap.AssertAllPassed(seeded, "hostile_stages seed", mount.Emulator);
        return seeded;
    }

    /// <summary>Seed sessions hs-0.. (one memfd each), kept by a holder across a reboot: incoming sessions to retrieve.</summary>
    private static void SeedAndReboot(HostileMount mount, int sessions)
    {
        ProcessResult seeded = mount.Run(StageLimit, "seed", Seed, $"{sessions}");
        KillHoldersAtEnd(mount, seeded);
        Tap.AssertAllPassed(seeded, "hostile_stages seed", mount.Emulator);
        ProcessResult reboot = mount.Emulator.Reboot();
        Assert.That(reboot.ExitCode, Is.Zero, reboot.Output + mount.Emulator.LogTail());
        Assert.That(reboot.Output, Does.Contain($"froze {sessions} sessions, {sessions} files"), reboot.Output);
        Assert.That(mount.Answers(), Is.True, "the next boot serves");
    }

    private static void KillHoldersAtEnd(HostileMount mount, ProcessResult stage)
    {
        foreach (Match holder in HolderLine().Matches(stage.Output))
            mount.KillAtEnd(int.Parse(holder.Groups[1].Value));
    }

    /// <summary>2000 idle processes (or <paramref name="processes"/>) with <paramref name="fds"/> fds each, in a process group of their own.</summary>
    private static BackgroundProcess StartCrowd(HostileMount mount, int processes, int fds)
    {
        BackgroundProcess crowd = mount.StartClient("hostile_stages", preload: false, "crowd", $"{processes}", $"{fds}");
        mount.KillAtEnd(-crowd.Pid); // the whole group, if the test does not get to EndCrowd
        bool ready = crowd.WaitForLine(l => l.StartsWith("# crowd ready", StringComparison.Ordinal), TimeSpan.FromSeconds(120));
        if (!ready)
        {
            EndCrowd(crowd);
            crowd.Dispose();
            Assert.Fail($"the crowd of {processes} processes did not start\n{crowd.Output}");
        }
        TestContext.Out.WriteLine(crowd.Output);
        return crowd;
    }

    /// <summary>SIGKILL to the crowd's process group; waits (bounded) until its processes are gone, so the
    /// next test does not meet 2000 dying ones.</summary>
    private static void EndCrowd(BackgroundProcess crowd)
    {
        Signals.Kill(-crowd.Pid);
        crowd.WaitForExit(TimeSpan.FromSeconds(10));
        int left = WaitFor(() => GroupMembers(crowd.Pid), n => n == 0, TimeSpan.FromSeconds(30));
        if (left > 0)
            TestContext.Out.WriteLine($"hostile: {left} processes of the crowd's group {crowd.Pid} still exist");
    }

    /// <summary>Processes (zombies too) whose process group is <paramref name="group"/>.</summary>
    private static int GroupMembers(int group)
    {
        int count = 0;
        foreach (string entry in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(entry), out _))
                continue;
            try
            {
                // "PID (COMM) STATE PPID PGRP ...": the fields after the last ')'
                string[] fields = File.ReadAllText(Path.Combine(entry, "stat")).Split(") ").Last().Split(' ');
                if (fields.Length > 2 && fields[2] == $"{group}")
                    count++;
            }
            catch (IOException)
            {
            }
        }
        return count;
    }

    private static string FirstRequestLine(ProcessResult result) =>
        Regex.Match(result.Output, @"# first request: (CREATE_SESSION in [0-9.]+ ms)") is { Success: true } m ? m.Groups[1].Value : "(no figure)";

    /// <summary>The daemon answers status.json within 2 s and serves a new client (each request within 1 s).</summary>
    private static void AssertServes(HostileMount mount)
    {
        Assert.That(mount.Answers(), Is.True, $"status.json is read within 2 s\n{mount.Emulator.LogTail()}");
        ProcessResult probe = mount.Run(TimeSpan.FromSeconds(30), "probe");
        Tap.AssertAllPassed(probe, "hostile_stages probe (another client)", mount.Emulator);
    }

    /// <summary>Every session was closed or finished (the last releases may still be in flight).</summary>
    private static void AssertNoSessionLeft(HostileMount mount)
    {
        List<string>? left = WaitFor(mount.SessionNames, names => names is { Count: 0 }, TimeSpan.FromSeconds(10));
        Assert.That(left, Is.Not.Null, "status.json is read within 2 s");
        Assert.That(left, Is.Empty, "sessions left behind");
    }

    /// <summary>Polls <paramref name="read"/> until <paramref name="done"/> or the time is up; the last value.</summary>
    private static T WaitFor<T>(Func<T> read, Func<T, bool> done, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        T value = read();
        while (!done(value) && clock.Elapsed < timeout)
        {
            Thread.Sleep(100);
            value = read();
        }
        return value;
    }

    [GeneratedRegex(@"^# holder pid (\d+)$", RegexOptions.Multiline)]
    private static partial Regex HolderLine();

    [GeneratedRegex(@"^# model: (\d+) sessions, (\d+) files$", RegexOptions.Multiline)]
    private static partial Regex ModelLine();
}
