using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using LiveUpdateFs.Interop;

namespace LiveUpdateFs.Tests.Integration;

/// <summary>
/// Runs chaos rounds (<see cref="ChaosRoundPlan"/>) against one mounted
/// daemon: tests/c/chaos_stages creates sessions, holders and writers and
/// checks what comes back; this class reboots, kills clients and the daemon,
/// and keeps the <see cref="ChaosModel"/> of what the next boot must offer.
/// Every session must come back exactly once or not at all, as the model
/// says, with exactly its bytes (chaos_stages checks the contents). Every
/// wait is bounded; a failure says which round and what happened before it
/// (<see cref="Journal"/>).
/// </summary>
public sealed partial class ChaosDriver : IDisposable
{
    private static readonly TimeSpan ClientTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan StateTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Every check asks for the sessions created in this many recent rounds...</summary>
    private const int RecentRounds = 6;

    /// <summary>...and for a few older ones: none may ever come back.</summary>
    private const int OlderNamesPerCheck = 8;

    /// <summary>The steps of a reboot at which kill@N fires before the store's pointer is renamed
    /// (the previous state stands) and after it (the new one does).</summary>
    private static readonly string[] StepsOfTheFreeze = ["freeze-file", "content-write", "content-fsync", "manifest-write", "generation-fsync", "store-fsync"];
    private static readonly string[] StepsBeforeTheCommit = [.. StepsOfTheFreeze, "restart", "pointer-write", "pointer-rename"];
    private static readonly string[] StepsAfterTheCommit = ["pointer-fsync", "cleanup"];
    private static readonly string[] StepsOfTheFirstOpen = ["load", "consumed-write"];

    private readonly MountedEmulator _emulator;
    private readonly ChaosModel _model = new();
    private readonly Random _random;
    private readonly List<ChaosSession> _created = [];
    private readonly List<(int Batch, int Sessions)> _creates = [];
    private readonly Dictionary<int, ProcessPin> _holders = [];
    private readonly Queue<string> _journal = new();
    private readonly string _spec;
    private int _round;
    private int _batch;
    private int _salt;

    /// <param name="seed">Seeds the driver's own choices (which holder to kill, which older names to ask for).</param>
    public ChaosDriver(int seed)
    {
        // information: a debug line per request would be most of the work here
        _emulator = MountedEmulator.Start(logLevel: "information");
        _random = new Random(seed ^ 0x5EED);
        _spec = Path.Combine(_emulator.Directory, "check.spec");
    }

    public ChaosSummary Summary { get; } = new();

    public ChaosModel Model => _model;

    /// <summary>The last actions and what they returned, for a failure's message.</summary>
    public string Journal => string.Join('\n', _journal);

    public string DaemonLogTail => _emulator.LogTail(30);

    /// <summary>Copies the daemon's log and the journal into <paramref name="directory"/>
    /// (the mount's own directory goes with the test); returns it.</summary>
    public string KeepEvidence(string directory)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "journal.txt"), Journal + "\n");
        File.WriteAllText(Path.Combine(directory, "liveupdatefs.log"), DaemonLog());
        return directory;
    }

    public void RunRound(int round, ChaosRoundPlan plan)
    {
        _round = round;
        Summary.Rounds++;
        Note($"round {round}: {plan}");
        if (_model.MustCheck)
            Check("settles what is undecided");
        if (plan.Ending == ChaosEnding.FaultMount)
        {
            RunFaultRound(plan);
            return;
        }
        if (plan.KillDaemonFirst)
            KillIdleDaemon();
        if (plan.Check)
            Check("first open");
        MakeSessions(plan);
        switch (plan.Ending)
        {
            case ChaosEnding.RebootGroup:
                RebootGroup(plan.Durable, plan.KillHolderDuringReboot && _model.Holders.Count > 0 ? _model.Holders[_random.Next(_model.Holders.Count)] : null,
                    plan.KillDelayMilliseconds);
                break;
            case ChaosEnding.ClientKilledWhileFrozen:
                KillClientWhileFrozen(plan.Durable[0]);
                if (plan.RebootAfterThaw)
                    RebootGroup(plan.Durable);
                break;
            case ChaosEnding.DaemonKilledDuringReboot:
                KillDaemonDuringReboot(plan.Durable[0], plan.KillMoment, plan.KillDelayMilliseconds);
                break;
            case ChaosEnding.DaemonKilledIdle:
                KillIdleDaemon();
                break;
            case ChaosEnding.DaemonKilledDuringCheck:
                KillDaemonDuringCheck(plan.KillDelayMilliseconds);
                break;
            case ChaosEnding.StopAndMount:
                StopAndMount();
                break;
            case ChaosEnding.StopWhileFrozen:
                StopWhileFrozen(plan.Durable[0]);
                break;
            case ChaosEnding.RebootCommandKilled:
                KillRebootCommand(plan.Durable[0], plan.KillMoment, plan.KillDelayMilliseconds);
                break;
            case ChaosEnding.None:
                Summary.Action("round without a reboot");
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(plan), plan.Ending, "unknown ending");
        }
    }

    /// <summary>The last check: settles what is undecided and retrieves what the last boot offers.</summary>
    public void Finish()
    {
        Note("finish");
        Check("final");
        EndEveryHolder();
    }

    /// <summary>Ends what is left without asserting anything (a failure may be on its way out).</summary>
    public void Dispose()
    {
        foreach (ProcessPin pin in _holders.Values)
        {
            pin.Kill();
            pin.Dispose();
        }
        _holders.Clear();
        _emulator.Dispose();
    }

    // ------------------------------------------------------------------
    // Sessions and holders

    private void MakeSessions(ChaosRoundPlan plan)
    {
        for (int i = 0; i < plan.Creates.Length; i++)
        {
            if (i == 0 && plan.ReuseNames && ReusableCreate() is { } earlier)
            {
                // The names of an earlier create with new contents: its sessions must never come back as these.
                int sessions = Math.Min(plan.Creates[i], earlier.Sessions);
                if (_model.Incoming.Any(s => s.Name.StartsWith($"c{earlier.Batch}-", StringComparison.Ordinal)))
                    Summary.State("a name used again beside its incoming session, not retrieved yet");
                StartHolder(["create", earlier.Batch.ToString(), sessions.ToString(), (++_salt).ToString()], writes: false);
                Summary.Action("create reusing names");
                continue;
            }
            _creates.Add((++_batch, plan.Creates[i]));
            StartHolder(["create", _batch.ToString(), plan.Creates[i].ToString()], writes: false);
        }
        if (plan.Writer)
            StartHolder(["writer", (++_batch).ToString()], writes: true);
        if (plan.KillHolder && _model.Holders.Count > 0)
            KillHolder(_model.Holders[_random.Next(_model.Holders.Count)]);
    }

    /// <summary>An earlier create none of whose names is outgoing now (CREATE_SESSION would be EEXIST);
    /// an incoming session of the same name may be there: an outgoing one beside it is allowed.</summary>
    private (int Batch, int Sessions)? ReusableCreate()
    {
        HashSet<string> outgoing = _model.Outgoing.Select(s => s.Name).ToHashSet();
        var free = _creates.Where(c => !Enumerable.Range(0, c.Sessions).Any(i => outgoing.Contains($"c{c.Batch}-{i}"))).ToList();
        return free.Count > 0 ? free[_random.Next(free.Count)] : null;
    }

    /// <summary>Runs chaos_stages create or writer (arguments) and takes on the holder it leaves.</summary>
    private void StartHolder(string[] arguments, bool writes)
    {
        int salt = arguments.Length > 3 ? int.Parse(arguments[3]) : 0;
        ProcessResult result = RunChaosStage(arguments);
        _model.DeviceOpened();
        AssertPassed(result, $"chaos_stages {string.Join(' ', arguments)}");
        int pid = int.Parse(HolderLine().Match(result.Output).Groups[1].Value);
        ProcessPin pin = ProcessPin.Of(pid) ?? throw new AssertionException($"{Where}: holder {pid} ended before it was pinned");
        _holders[pid] = pin;
        var sessions = SessionLine().Matches(result.Output)
            .Select(m => new ChaosSession(m.Groups[1].Value, int.Parse(m.Groups[2].Value), long.Parse(m.Groups[3].Value), _round, salt))
            .ToList();
        _created.AddRange(sessions);
        Summary.SessionsCreated += sessions.Count;
        Summary.Action(writes ? "writer" : "create");
        _model.HolderStarted(new ChaosHolder(pid, sessions, writes));
        Note($"  holder {pid}: {string.Join(' ', sessions.Select(s => s.Name))}");
    }

    /// <summary>SIGKILL of a client that holds sessions: the daemon drops them (their fds closed), none is handed over.</summary>
    private void KillHolder(ChaosHolder holder)
    {
        ProcessPin pin = _holders[holder.Pid];
        pin.Kill();
        WaitUntil(() => pin.HasExited, ExitTimeout, $"holder {holder.Pid} ends at SIGKILL");
        ForgetHolder(holder.Pid);
        _model.HolderEnded(holder);
        var names = holder.Sessions.Select(s => s.Name).ToHashSet();
        // The kernel releases the dead holder's files in the background: poll until the daemon has dropped them.
        WaitUntil(() => !OutgoingSessionNames().Overlaps(names), StateTimeout, $"the daemon drops the sessions of killed holder {holder.Pid}");
        Summary.Action("holder killed");
        Note($"  killed holder {holder.Pid}");
    }

    /// <summary>Ends whatever holder still runs (after a daemon crash they hold fds of a dead mount).</summary>
    private void EndEveryHolder()
    {
        foreach (ProcessPin pin in _holders.Values)
            pin.Kill();
        foreach ((int pid, ProcessPin pin) in _holders.ToList())
        {
            WaitUntil(() => pin.HasExited, ExitTimeout, $"holder {pid} ends at SIGKILL");
            ForgetHolder(pid);
        }
    }

    /// <summary>After a reboot: the command ended every holder, as a kexec ends every process.</summary>
    private void AssertHoldersEndedByTheReboot()
    {
        foreach ((int pid, ProcessPin pin) in _holders.ToList())
        {
            WaitUntil(() => pin.HasExited, ExitTimeout, $"the reboot ended holder {pid}");
            ForgetHolder(pid);
        }
    }

    private void ForgetHolder(int pid)
    {
        _holders.Remove(pid, out ProcessPin? pin);
        pin?.Dispose();
    }

    // ------------------------------------------------------------------
    // Checks

    /// <summary>chaos_stages check of everything the model knows about; it is the boot's first open unless something opened before.</summary>
    private void Check(string why)
    {
        WriteSpec();
        ApplyCheck(RunChaosStage(["check", _spec]), why);
    }

    /// <summary>The spec for chaos_stages check: what this boot offers (present), either of
    /// two states (either), and recent and some older sessions that must not come back (absent),
    /// this boot's outgoing ones among them (RETRIEVE_SESSION does not find outgoing names).</summary>
    private void WriteSpec()
    {
        var expect = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (ChaosSession session in _model.Incoming)
            expect[session.Name] = $"present {session.Salt}";
        if (_model.Undecided is { } undecided)
        {
            foreach (ChaosSession session in undecided.Old.Concat(undecided.New))
                expect[session.Name] = $"either {session.Salt}";
        }
        foreach (ChaosSession session in _model.Optional)
            expect[session.Name] = $"either {session.Salt}";
        IEnumerable<ChaosSession> older = _created.Where(s => s.Round < _round - RecentRounds).ToList() is { Count: > 0 } all
            ? Enumerable.Range(0, OlderNamesPerCheck).Select(_ => all[_random.Next(all.Count)])
            : [];
        foreach (ChaosSession session in _created.Where(s => s.Round >= _round - RecentRounds).Concat(older))
            expect.TryAdd(session.Name, "absent");
        File.WriteAllLines(_spec, expect.Select(e => $"{e.Key} {e.Value}"));
    }

    private void ApplyCheck(ProcessResult result, string why)
    {
        AssertPassed(result, $"chaos_stages check ({why})");
        HashSet<string> present = PresentLine().Matches(result.Output).Select(m => m.Groups[1].Value).ToHashSet();
        if (_model.Undecided is { } undecided)
        {
            HashSet<string> old = undecided.Old.Select(s => s.Name).ToHashSet(), @new = undecided.New.Select(s => s.Name).ToHashSet();
            var found = present.Where(n => old.Contains(n) || @new.Contains(n)).ToHashSet();
            bool isOld = found.SetEquals(old), isNew = found.SetEquals(@new);
            Assert.That(isOld || isNew, Is.True,
                $"{Where}: after a kill at an undecided moment the boot offers the old state [{string.Join(' ', old)}] or the new one "
                + $"[{string.Join(' ', @new)}], whole; it offered [{string.Join(' ', found)}]\n{result.Output}");
            Summary.State(isOld && isNew ? "undecided kill: both states alike" : isOld ? "undecided kill: old state" : "undecided kill: new state");
        }
        if (_model.Optional.Count > 0)
        {
            var found = _model.Optional.Where(s => present.Contains(s.Name)).Select(s => s.Name).ToList();
            Assert.That(found, Has.Count.EqualTo(_model.OptionalOffered),
                $"{Where}: of the sessions of the holder killed during the reboot, the next boot offers as many as the reboot froze ({_model.OptionalOffered}); "
                + $"it offered [{string.Join(' ', found)}]\n{result.Output}");
            Summary.State($"holder killed during a reboot: {(found.Count == 0 ? "none" : found.Count == _model.Optional.Count ? "all" : "some")} of its sessions handed over");
        }
        Match counts = CheckedLine().Match(result.Output);
        Summary.SessionsFoundPresent += int.Parse(counts.Groups[1].Value);
        Summary.SessionsFoundAbsent += int.Parse(counts.Groups[2].Value);
        Summary.Action("check");
        _model.Checked();
        Note($"  check ({why}): present {string.Join(' ', present)}");
    }

    // ------------------------------------------------------------------
    // Reboots

    /// <summary>1-3 reboot commands of one boot started together: exactly one reboots, the others are refused.
    /// With a <paramref name="victim"/>, that holder is SIGKILLed as they start: the freeze may find each of its
    /// sessions open or already closed, and hands over exactly those it says it froze.</summary>
    private void RebootGroup(bool[] modes, ChaosHolder? victim = null, int victimDelayMilliseconds = 0)
    {
        string boot = Boot() ?? throw new AssertionException($"{Where}: no daemon answers status.json before the reboot");
        if (victim is not null)
            _model.HolderEnded(victim);
        IReadOnlyList<ChaosSession> outgoing = _model.Outgoing;
        using var start = new Barrier(modes.Length + (victim is null ? 0 : 1));
        Task<ProcessResult>[] commands = modes.Select(durable => Task.Run(() =>
            {
                start.SignalAndWait(ClientTimeout);
                return _emulator.Reboot(null, ["--expect-boot", boot, .. durable ? ["--durable"] : Array.Empty<string>()]);
            }))
            .ToArray();
        if (victim is not null)
        {
            start.SignalAndWait(ClientTimeout);
            Thread.Sleep(victimDelayMilliseconds); // not a synchronisation: a random delay picks the moment of the kill
            _holders[victim.Pid].Kill();
        }
        Assert.That(Task.WaitAll(commands, 2 * ClientTimeout), Is.True, $"{Where}: the reboot commands end");
        ProcessResult[] results = commands.Select(c => c.Result).ToArray();
        string all = string.Join("\n---\n", results.Select((r, i) => $"{(modes[i] ? "durable" : "in place")}: exit {r.ExitCode}: {r.Output}"));
        int[] winners = Enumerable.Range(0, results.Length).Where(i => results[i].ExitCode == 0).ToArray();
        Assert.That(winners, Has.Length.EqualTo(1), $"{Where}: exactly one of {modes.Length} reboot commands reboots\n{all}\n{DaemonLogTail}");
        foreach (ProcessResult refused in results.Where(r => r.ExitCode != 0))
        {
            Match why = Refusal().Match(refused.Output);
            Assert.That(why.Success, Is.True, $"{Where}: a refused reboot says why (EBUSY or ESTALE)\n{all}");
            Summary.Action(why.Value.Contains("EBUSY") ? "reboot refused EBUSY" : "reboot refused ESTALE");
        }
        bool durable = modes[winners[0]];
        ProcessResult won = results[winners[0]];
        AssertHoldersEndedByTheReboot();
        if (victim is null)
        {
            AssertFroze(won, outgoing);
            _model.Rebooted(durable);
        }
        else
        {
            Match froze = FrozeLine().Match(won.Output);
            int sessions = froze.Success ? int.Parse(froze.Groups[1].Value) : -1;
            Assert.That(sessions, Is.InRange(outgoing.Count, outgoing.Count + victim.Sessions.Count),
                $"{Where}: the reboot froze the held sessions and some of the killed holder's [{string.Join(' ', victim.Sessions.Select(s => s.Name))}]\n{won.Output}");
            _model.Rebooted(durable, victim.Sessions, sessions - outgoing.Count);
            Summary.Action("holder killed during a reboot");
        }
        Summary.Action(durable ? "reboot durable" : "reboot in place");
        Note($"  rebooted {(durable ? "durable" : "in place")} ({modes.Length} commands): {outgoing.Count} sessions"
            + (victim is null ? "" : $", holder {victim.Pid} killed meanwhile"));
    }

    /// <summary>The reboot says it froze exactly the sessions (and files) of the living holders.</summary>
    private void AssertFroze(ProcessResult reboot, IReadOnlyList<ChaosSession> outgoing) =>
        Assert.That(reboot.Output, Does.Contain($"froze {outgoing.Count} sessions, {outgoing.Sum(s => s.Files)} files"),
            $"{Where}: the reboot freezes exactly the held sessions [{string.Join(' ', outgoing.Select(s => s.Name))}]");

    /// <summary>A reboot client that dies between FREEZE and RESTART: the boot thaws, nothing
    /// changes, and a check that the freeze held is served.</summary>
    private void KillClientWhileFrozen(bool durable)
    {
        using BackgroundProcess client = BackgroundProcess.Start(Path.Combine(Repository.CTests, "control_stages"),
            ["freeze", durable ? "durable" : "inplace", "hang"], ClientEnvironment());
        Assert.That(client.WaitForLine("# frozen", StateTimeout), Is.True, $"{Where}: the reboot client froze the boot\n{client.Output}\n{DaemonLogTail}");
        WriteSpec();
        using BackgroundProcess held = BackgroundProcess.Start(Path.Combine(Repository.CTests, "chaos_stages"), ["check", _spec], ClientEnvironment());
        WaitUntil(() => held.HasExited || held.WaitsForAFuseAnswer, StateTimeout, "the check waits in a FUSE request (held by the frozen daemon)");
        Assert.That(held.HasExited, Is.False, $"{Where}: a caller is held while the boot is frozen, not served\n{held.Output}");

        client.Kill();
        Assert.That(client.WaitForExit(ExitTimeout).TimedOut, Is.False, $"{Where}: the reboot client ends at SIGKILL");
        ProcessResult served = held.WaitForExit(ClientTimeout);
        Assert.That(served.TimedOut, Is.False, $"{Where}: the held check is served once the frozen boot thaws\n{served.Output}\n{DaemonLogTail}");
        ApplyCheck(served, "held by the freeze");
        WaitUntil(() => RebootPhase() == "serving", StateTimeout, "the boot serves again after the thaw");
        Summary.Action($"client killed while frozen ({(durable ? "durable" : "in place")})");
    }

    /// <summary>A `liveupdatefs reboot` SIGKILLed a random few milliseconds after it starts, or once
    /// status.json says the boot is frozen. Once it has ended, the boot serves again (the freeze, if
    /// any, called off: the holders the command had ended lost their sessions, the others keep them)
    /// or, if the command got its restart request in, the next boot serves the frozen sessions.</summary>
    private void KillRebootCommand(bool durable, ChaosKillMoment moment, int delayMilliseconds)
    {
        string boot = Boot() ?? throw new AssertionException($"{Where}: no daemon answers status.json before the reboot");
        IReadOnlyList<ChaosSession> outgoing = _model.Outgoing;
        int calledOffBefore = LogCount(CalledOff());
        using BackgroundProcess command = BackgroundProcess.Start(Repository.Daemon,
            ["reboot", "--mountpoint", _emulator.Mountpoint, "--expect-boot", boot, .. durable ? ["--durable"] : Array.Empty<string>()],
            new Dictionary<string, string?>());
        if (moment is ChaosKillMoment.Frozen or ChaosKillMoment.Committed)
            WaitUntil(() => command.HasExited || RebootPhase(boot) != "serving", StateTimeout, "the reboot command freezes the boot");
        else
            Thread.Sleep(delayMilliseconds); // not a synchronisation: a random delay picks the moment of the kill
        command.Kill();
        ProcessResult ended = command.WaitForExit(ExitTimeout);
        Assert.That(ended.TimedOut, Is.False, $"{Where}: the reboot command ends at SIGKILL\n{ended.Output}");
        // Its requests are answered or were never read: what it started, the daemon finishes or calls off now.
        string phase = "";
        WaitUntil(() => (phase = RebootPhase(boot)) is "serving" or "next boot", StateTimeout,
            "the boot serves again, or the next boot does, after the reboot command was killed");
        if (phase == "next boot")
        {
            AssertHoldersEndedByTheReboot();
            _model.Rebooted(durable);
            Summary.State("reboot command killed: the reboot went through");
            Note($"  killed the reboot command ({(durable ? "durable" : "in place")}): it went through with {outgoing.Count} sessions");
        }
        else
        {
            // Every SIGKILL the dead command sent is delivered or pending by now; a holder may still be dying.
            List<ChaosHolder> endedHolders = _model.Holders.Where(h => _holders[h.Pid].HasExited || SigkillPending(h.Pid)).ToList();
            foreach (ChaosHolder holder in endedHolders)
            {
                ProcessPin pin = _holders[holder.Pid];
                WaitUntil(() => pin.HasExited, ExitTimeout, $"holder {holder.Pid}, killed by the reboot command, ends");
                ForgetHolder(holder.Pid);
                _model.HolderEnded(holder);
            }
            var lost = endedHolders.SelectMany(h => h.Sessions).Select(s => s.Name).ToHashSet();
            WaitUntil(() => !OutgoingSessionNames().Overlaps(lost), StateTimeout, "the daemon drops the sessions of the holders the killed command ended");
            bool calledOff = LogCount(CalledOff()) > calledOffBefore;
            Summary.State(!calledOff ? "reboot command killed before its freeze"
                : endedHolders.Count == 0 ? "reboot command killed: freeze called off" : "reboot command killed: freeze called off after holders were ended");
            Note($"  killed the reboot command ({(durable ? "durable" : "in place")}): the boot serves again; {endedHolders.Count} holders had been ended");
        }
        Summary.Action($"reboot command killed ({(moment is ChaosKillMoment.Frozen or ChaosKillMoment.Committed ? "once frozen" : "after a delay")})");
    }

    /// <summary>A reboot client freezes and hangs; `unmount` (SIGTERM) while frozen hands the frozen
    /// sessions over durably, whatever the freeze's mode; `mount` boots into them.</summary>
    private void StopWhileFrozen(bool durable)
    {
        IReadOnlyList<ChaosSession> outgoing = _model.Outgoing;
        using BackgroundProcess client = BackgroundProcess.Start(Path.Combine(Repository.CTests, "control_stages"),
            ["freeze", durable ? "durable" : "inplace", "hang"], ClientEnvironment());
        Assert.That(client.WaitForLine("# frozen", StateTimeout), Is.True, $"{Where}: the reboot client froze the boot\n{client.Output}\n{DaemonLogTail}");
        ProcessResult stopped = _emulator.Cli(["unmount", "--mountpoint", _emulator.Mountpoint]);
        Assert.That(stopped.ExitCode, Is.Zero, $"{Where}: unmount while frozen\n{stopped.Output}\n{DaemonLogTail}");
        client.Kill();
        EndEveryHolder();
        _emulator.Mount(null, "information");
        _model.StoppedAndStarted();
        Summary.Action($"unmount while frozen ({(durable ? "durable" : "in place")})");
        Note($"  unmounted while frozen: {outgoing.Count} sessions handed over durably");
    }

    /// <summary>SIGKILL of the daemon at <paramref name="moment"/> of a reboot command.
    /// The command runs without --expect-boot: with it, a command that finds no
    /// daemon waits for the next boot (30 s) before it gives up.</summary>
    private void KillDaemonDuringReboot(bool durable, ChaosKillMoment moment, int delayMilliseconds)
    {
        int pid = _emulator.DaemonPid;
        string boot = Boot()!;
        IReadOnlyList<ChaosSession> outgoing = _model.Outgoing;
        Task<ProcessResult> reboot = Task.Run(() => _emulator.Reboot(null, durable ? ["--durable"] : []));
        switch (moment)
        {
            case ChaosKillMoment.SoonAfterStart:
                Thread.Sleep(delayMilliseconds); // not a synchronisation: a random delay picks the moment of the kill
                break;
            case ChaosKillMoment.Frozen:
                WaitUntil(() => reboot.IsCompleted || RebootPhase(boot) != "serving", StateTimeout, "the reboot freezes");
                break;
            case ChaosKillMoment.Committed:
                WaitUntil(() => reboot.IsCompleted || RebootPhase(boot) is "committed" or "gone" or "next boot", StateTimeout, "the reboot commits");
                break;
            case ChaosKillMoment.AfterReboot:
                Assert.That(reboot.Wait(2 * ClientTimeout), Is.True, $"{Where}: the reboot command ends");
                break;
        }
        KillDaemon(pid);
        Assert.That(reboot.Wait(2 * ClientTimeout), Is.True, $"{Where}: the reboot command ends after the daemon was killed");
        ProcessResult result = reboot.Result;
        // What the command saw tells the moment where it can: an answered reboot was committed,
        // a freeze never answered was not; a daemon gone after the freeze may be either.
        bool? committed = result.ExitCode == 0 ? true
            : result.Output.Contains("died during the freeze") || result.Output.Contains("no daemon serves") ? false
            : result.Output.Contains("ended instead of restarting") ? null
            : throw new AssertionException($"{Where}: the reboot command says why it failed when the daemon is killed\n{result.Output}\n{DaemonLogTail}");
        if (result.ExitCode == 0)
            AssertFroze(result, outgoing);
        EndEveryHolder();
        StartIfNoneServes();
        _model.CrashedDuringReboot(durable, committed);
        string when = committed switch { true => "after its commit", false => "before its commit", null => "commit undecided" };
        Summary.Action($"daemon killed during a reboot ({moment})");
        Summary.State($"daemon killed during {(durable ? "a durable" : "an in-place")} reboot: {when}");
        Note($"  killed daemon {pid} during {(durable ? "a durable" : "an in-place")} reboot at {moment}: {when}; command exit {result.ExitCode}");
    }

    /// <summary>SIGKILL of the daemon <paramref name="delayMilliseconds"/> after a check started (a
    /// check takes a few milliseconds: the kill lands before, in or after its first open, or among its
    /// retrieves). What the check got before must be right; what it could not get fails with ENOTCONN,
    /// never with other bytes; afterwards no session comes back a second time.</summary>
    private void KillDaemonDuringCheck(int delayMilliseconds)
    {
        int pid = _emulator.DaemonPid;
        WriteSpec();
        using BackgroundProcess check = BackgroundProcess.Start(Path.Combine(Repository.CTests, "chaos_stages"), ["check", _spec], ClientEnvironment());
        Thread.Sleep(delayMilliseconds); // not a synchronisation: a random delay picks the moment of the kill
        KillDaemon(pid);
        ProcessResult result = check.WaitForExit(ClientTimeout);
        Assert.That(result.TimedOut, Is.False, $"{Where}: the check ends once the daemon is dead\n{result.Output}");
        string[] lines = result.Output.Split('\n');
        string[] cutOff = ["ENOTCONN", "ECONNABORTED", "open the device"];
        string[] wrong = lines.Where(l => l.StartsWith("not ok", StringComparison.Ordinal) && (!cutOff.Any(l.Contains) || l.Contains(": present, model: absent"))).ToArray();
        Assert.That(wrong, Is.Empty, $"{Where}: a check cut off by the daemon's death fails only for the lost connection\n{result.Output}");
        EndEveryHolder();
        _emulator.Mount(null, "information");
        string what;
        if (result.ExitCode == 0)
        {
            ApplyCheck(result, "done before the daemon was killed");
            _model.StartedAfterACrash();
            what = "the check was done";
        }
        else
        {
            // Any answer after the open means the open succeeded, and with it the consumed mark.
            bool opened = lines.Any(l => l.StartsWith("# present ", StringComparison.Ordinal) || l.StartsWith("# absent ", StringComparison.Ordinal)
                || (l.StartsWith("ok ", StringComparison.Ordinal) || l.StartsWith("not ok", StringComparison.Ordinal)) && !l.Contains("open the device"));
            _model.CrashedWhileChecking(opened ? true : null);
            what = opened ? "after the check's open" : "before or in the check's open";
        }
        Summary.Action("daemon killed during a check");
        Summary.State($"daemon killed during a check: {what}");
        Note($"  killed daemon {pid} at +{delayMilliseconds} ms of a check: {what}");
    }

    /// <summary>SIGKILL of the idle daemon, then `mount` (with <paramref name="fault"/> in its environment).</summary>
    private void KillIdleDaemon(string? fault = null)
    {
        string offered = _model.OfferedToAStartAfterACrash.Count > 0 ? "a durable generation, whole"
            : _model.Committed is null ? "nothing: nothing committed"
            : !_model.Committed.Durable ? "nothing: in-place memfds died"
            : _model.Committed.Consumed ? "nothing: consumed" : "nothing: empty durable generation";
        KillDaemon(_emulator.DaemonPid);
        EndEveryHolder();
        _emulator.Mount(fault is null ? null : new Dictionary<string, string?> { ["LIVEUPDATEFS_FAULT"] = fault }, "information");
        _model.StartedAfterACrash();
        Summary.Action("daemon killed idle");
        Summary.State($"start after a kill offers {offered}");
        Note($"  killed the idle daemon; the start offers {offered}{(fault is null ? "" : $"; armed {fault}")}");
    }

    /// <summary>`unmount` (SIGTERM): the outgoing sessions go into the store, durably; `mount` boots into them.</summary>
    private void StopAndMount()
    {
        IReadOnlyList<ChaosSession> outgoing = _model.Outgoing;
        ProcessResult stopped = _emulator.Cli(["unmount", "--mountpoint", _emulator.Mountpoint]);
        Assert.That(stopped.ExitCode, Is.Zero, $"{Where}: unmount\n{stopped.Output}\n{DaemonLogTail}");
        EndEveryHolder();
        _emulator.Mount(null, "information");
        _model.StoppedAndStarted();
        Summary.Action("stop and mount");
        Note($"  stopped and mounted: {outgoing.Count} sessions handed over durably");
    }

    /// <summary>
    /// A daemon started with LIVEUPDATEFS_FAULT=kill@N: it kills itself at
    /// its N-th checkpoint, in the first open (load, consumed mark) or in the
    /// reboot, or never if N is past them. Its log names the checkpoint; the
    /// state it leaves follows from which side of the commit (the pointer
    /// rename) that is.
    /// </summary>
    private void RunFaultRound(ChaosRoundPlan plan)
    {
        KillIdleDaemon($"kill@{plan.FaultPoint}");
        int pid = _emulator.DaemonPid;
        int faultsBefore = FaultSteps().Count;

        WriteSpec();
        ProcessResult first = RunChaosStage(["check", _spec]);
        bool fired = first.ExitCode != 0 && ProcessExit.Wait(pid, ExitTimeout);
        if (fired)
        {
            string step = FiredStep(faultsBefore);
            Assert.That(StepsOfTheFirstOpen, Does.Contain(step), $"{Where}: the daemon died in the first open at a checkpoint of it\n{first.Output}");
            Assert.That(first.Output, Does.Contain("open the device"), $"{Where}: the open fails when the daemon dies in it\n{first.Output}");
            // The checkpoint comes before the consumed mark is written: nothing was consumed.
            _emulator.Mount(null, "information");
            _model.StartedAfterACrash();
            Summary.State($"kill@N in the first open ({step}): nothing consumed");
            Note($"  kill@{plan.FaultPoint} fired at {step} in the first open");
            Check("first open after the fault");
        }
        else
            ApplyCheck(first, "first open of a daemon with a fault armed");
        MakeSessions(plan);
        if (fired)
        {
            RebootGroup(plan.Durable);
            return;
        }

        bool durable = plan.Durable[0];
        IReadOnlyList<ChaosSession> outgoing = _model.Outgoing;
        ProcessResult reboot = _emulator.Reboot(null, durable ? ["--durable"] : []);
        if (reboot.ExitCode == 0)
        {
            // N was past the reboot's checkpoints; the next boot (an exec) has no fault.
            AssertFroze(reboot, outgoing);
            AssertHoldersEndedByTheReboot();
            _model.Rebooted(durable);
            Summary.State("kill@N past the reboot");
            Note($"  kill@{plan.FaultPoint} was not reached");
            return;
        }
        Assert.That(ProcessExit.Wait(pid, ExitTimeout), Is.True, $"{Where}: a failed reboot of a daemon armed with kill@N means it died\n{reboot.Output}\n{DaemonLogTail}");
        string fatal = FiredStep(faultsBefore);
        bool committed = StepsAfterTheCommit.Contains(fatal);
        Assert.That(committed || StepsBeforeTheCommit.Contains(fatal), Is.True, $"{Where}: the daemon died at a checkpoint of the reboot, not at {fatal}");
        Assert.That(reboot.Output, Does.Contain(StepsOfTheFreeze.Contains(fatal) ? "died during the freeze" : "ended instead of restarting"),
            $"{Where}: the reboot command says where the daemon died ({fatal})");
        EndEveryHolder();
        StartIfNoneServes();
        _model.CrashedDuringReboot(durable, committed);
        Summary.Action("daemon killed by kill@N");
        Summary.State($"kill@N at {fatal}: {(committed ? "new" : "old")} state");
        Note($"  kill@{plan.FaultPoint} fired at {fatal} in {(durable ? "a durable" : "an in-place")} reboot");
    }

    // ------------------------------------------------------------------
    // The daemon

    private void KillDaemon(int pid)
    {
        Signals.Kill(pid);
        Assert.That(ProcessExit.Wait(pid, ExitTimeout), Is.True, $"{Where}: daemon {pid} ends at SIGKILL");
    }

    /// <summary>After a killed reboot the command may have started the next daemon itself; else `mount`.</summary>
    private void StartIfNoneServes()
    {
        if (Boot() is null)
            _emulator.Mount(null, "information");
    }

    private string? Boot()
    {
        using JsonDocument? status = _emulator.Status();
        return status?.RootElement.GetProperty("boot").GetString();
    }

    /// <summary>serving, frozen or committed; "gone" when no daemon answers, "next boot" once another boot serves.</summary>
    private string RebootPhase(string? boot = null)
    {
        using JsonDocument? status = _emulator.Status();
        if (status is null)
            return "gone";
        if (boot is not null && status.RootElement.GetProperty("boot").GetString() != boot)
            return "next boot";
        return status.RootElement.GetProperty("reboot").GetString()!;
    }

    /// <summary>A SIGKILL waits to be delivered to <paramref name="pid"/> (/proc/PID/status, SigPnd or ShdPnd).</summary>
    private static bool SigkillPending(int pid)
    {
        const ulong sigkill = 1UL << (9 - 1);
        try
        {
            return File.ReadLines($"/proc/{pid}/status")
                .Where(l => l.StartsWith("SigPnd:", StringComparison.Ordinal) || l.StartsWith("ShdPnd:", StringComparison.Ordinal))
                .Any(l => (Convert.ToUInt64(l[7..].Trim(), 16) & sigkill) != 0);
        }
        catch (IOException)
        {
            return true; // gone already
        }
    }

    private HashSet<string> OutgoingSessionNames()
    {
        using JsonDocument status = _emulator.Status() ?? throw new AssertionException($"{Where}: no daemon answers status.json");
        return status.RootElement.GetProperty("sessions").EnumerateArray()
            .Where(s => s.GetProperty("kind").GetString() == "outgoing")
            .Select(s => s.GetProperty("name").GetString()!)
            .ToHashSet();
    }

    /// <summary>The steps at which the fault switch killed a daemon of this store, from its log, in order.</summary>
    private List<string> FaultSteps() => FaultLine().Matches(DaemonLog()).Select(m => m.Groups[1].Value).ToList();

    private int LogCount(Regex line) => line.Count(DaemonLog());

    /// <summary>The log of every daemon of this store (each start appends).</summary>
    private string DaemonLog()
    {
        string log = Path.Combine(_emulator.Store, "liveupdatefs.log");
        return File.Exists(log) ? File.ReadAllText(log) : "";
    }

    private string FiredStep(int faultsBefore)
    {
        List<string> steps = FaultSteps();
        Assert.That(steps, Has.Count.EqualTo(faultsBefore + 1), $"{Where}: the daemon's log names the checkpoint where kill@N fired\n{DaemonLogTail}");
        return steps[^1];
    }

    // ------------------------------------------------------------------
    // Plumbing

    private string Where => $"round {_round}";

    private Dictionary<string, string?> ClientEnvironment() => new()
    {
        ["LIVEUPDATE_DEVICE"] = _emulator.Device,
        ["LD_PRELOAD"] = Repository.PreloadLibrary,
        ["LIVEUPDATEFS_MOUNTPOINT"] = _emulator.Mountpoint,
    };

    private ProcessResult RunChaosStage(string[] arguments)
    {
        ProcessResult result = ProcessRunner.Run(Path.Combine(Repository.CTests, "chaos_stages"), arguments, ClientEnvironment(), ClientTimeout);
        Assert.That(result.TimedOut, Is.False, $"{Where}: chaos_stages {string.Join(' ', arguments)} did not end within {ClientTimeout.TotalSeconds} s (a request got no answer?)\n{result.Output}\n{DaemonLogTail}");
        return result;
    }

    /// <summary>Every case of a chaos_stages run passed; else fails with its failed cases and notes.</summary>
    private void AssertPassed(ProcessResult result, string program)
    {
        Match summary = TapSummary().Match(result.Output);
        if (summary.Success && summary.Groups[2].Value == "0" && result.ExitCode == 0)
            return;
        IEnumerable<string> telling = result.Output.Split('\n')
            .Where(l => !l.StartsWith("ok ", StringComparison.Ordinal) && !PresentLine().IsMatch(l) && !l.StartsWith("# absent ", StringComparison.Ordinal));
        Assert.Fail($"{Where}: {program} failed (exit {result.ExitCode}):\n{string.Join('\n', telling)}");
    }

    private static void WaitUntil(Func<bool> condition, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout)
                Assert.Fail($"timed out after {timeout.TotalSeconds} s waiting until {what}");
            Thread.Sleep(2);
        }
    }

    private void Note(string line)
    {
        _journal.Enqueue(line);
        while (_journal.Count > 60)
            _journal.Dequeue();
    }

    [GeneratedRegex(@"froze (\d+) sessions, (\d+) files")]
    private static partial Regex FrozeLine();

    [GeneratedRegex(@"^# holder pid (\d+)$", RegexOptions.Multiline)]
    private static partial Regex HolderLine();

    [GeneratedRegex(@"^# session (\S+) files (\d+) bytes (\d+)$", RegexOptions.Multiline)]
    private static partial Regex SessionLine();

    [GeneratedRegex(@"^# present (\S+)$", RegexOptions.Multiline)]
    private static partial Regex PresentLine();

    [GeneratedRegex(@"^# checked (\d+) present, (\d+) absent$", RegexOptions.Multiline)]
    private static partial Regex CheckedLine();

    [GeneratedRegex(@"^(\d+) passed, (\d+) failed$", RegexOptions.Multiline)]
    private static partial Regex TapSummary();

    [GeneratedRegex(@"another reboot is under way \(EBUSY\)|rebooted since .* \(ESTALE\)")]
    private static partial Regex Refusal();

    [GeneratedRegex(@"\) called off: ")]
    private static partial Regex CalledOff();

    [GeneratedRegex(@"Fault switch: SIGKILL at checkpoint \d+ \(([a-z-]+)\)")]
    private static partial Regex FaultLine();
}
