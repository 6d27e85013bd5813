namespace LiveUpdateFs.Tests.Integration;

/// <summary>
/// Chaos: rounds of concurrent reboots, reboot clients killed
/// while frozen, holders killed, the daemon SIGKILLed at random moments
/// (also by the fault switch kill@N) and writers, checked against a model:
/// every session comes back exactly once or not at all, as the model says,
/// with never a byte from another instant. <see cref="ChaosDriver"/> runs the
/// rounds; tests/c/chaos_stages creates and checks the sessions.
/// </summary>
[TestFixture]
[NonParallelizable]
[Category("Integration")]
public sealed class ChaosTests
{
    /// <summary>
    /// A fixed tour of every kind of round. Writers run only before in-place
    /// reboots here: the holder is dead before anything reads the memfd, so
    /// the snapshot is one instant whatever the freeze does; a durable freeze
    /// copies while the writer runs (see the long mode).
    /// </summary>
    private static readonly ChaosRoundPlan[] Tour =
    [
        // two in-place commands at once over three holders, one of them killed as they start:
        // one command reboots, one is refused, the killed holder's sessions come back as far as they were frozen
        new(KillDaemonFirst: false, Check: true, Creates: [2, 1, 2], Writer: false, KillHolder: false, ChaosEnding.RebootGroup, Durable: [false, false],
            KillDelayMilliseconds: 15, KillHolderDuringReboot: true),
        // a writer's memfd across an in-place reboot; a session name of round 1 with new contents
        new(KillDaemonFirst: false, Check: true, Creates: [1], Writer: true, KillHolder: false, ChaosEnding.RebootGroup, Durable: [false], ReuseNames: true),
        // names used before with new contents, a holder killed, then three durable commands at once
        new(KillDaemonFirst: false, Check: true, Creates: [2, 2], Writer: false, KillHolder: true, ChaosEnding.RebootGroup, Durable: [true, true, true],
            ReuseNames: true),
        // the daemon killed before the first open: the durable generation is offered whole;
        // then a reboot client killed while frozen, a held check served, and a reboot
        new(KillDaemonFirst: true, Check: true, Creates: [1], Writer: false, KillHolder: false, ChaosEnding.ClientKilledWhileFrozen, Durable: [true],
            RebootAfterThaw: true),
        // nobody opens this boot: the daemon killed in a durable reboot leaves the unconsumed
        // previous generation or the new (empty) one
        new(KillDaemonFirst: false, Check: false, Creates: [], Writer: false, KillHolder: false, ChaosEnding.DaemonKilledDuringReboot, Durable: [true],
            KillMoment: ChaosKillMoment.Frozen),
        // a daemon with kill@6: it dies in the durable reboot's copy
        new(KillDaemonFirst: false, Check: true, Creates: [2], Writer: false, KillHolder: false, ChaosEnding.FaultMount, Durable: [true], FaultPoint: 6),
        // unmount hands over durably, mount boots into it
        new(KillDaemonFirst: false, Check: true, Creates: [1], Writer: false, KillHolder: false, ChaosEnding.StopAndMount, Durable: [true]),
        // the daemon killed once an in-place reboot committed (or later)
        new(KillDaemonFirst: false, Check: true, Creates: [1], Writer: false, KillHolder: false, ChaosEnding.DaemonKilledDuringReboot, Durable: [false],
            KillMoment: ChaosKillMoment.Committed),
        // the daemon killed right after a durable reboot, before anyone opened: offered whole
        new(KillDaemonFirst: false, Check: true, Creates: [2], Writer: false, KillHolder: false, ChaosEnding.DaemonKilledDuringReboot, Durable: [true],
            KillMoment: ChaosKillMoment.AfterReboot),
        // a reboot command killed a moment after it starts: called off or gone through, never half
        new(KillDaemonFirst: false, Check: true, Creates: [1, 2], Writer: false, KillHolder: false, ChaosEnding.RebootCommandKilled, Durable: [true],
            KillDelayMilliseconds: 30),
        // unmount while an in-place freeze waits: the frozen sessions are handed over durably
        new(KillDaemonFirst: false, Check: true, Creates: [2], Writer: false, KillHolder: false, ChaosEnding.StopWhileFrozen, Durable: [false]),
        // the daemon killed a moment after the check that is this boot's first open starts: the sessions
        // come back whole after the restart if the open had not consumed them, never a second time
        new(KillDaemonFirst: false, Check: false, Creates: [], Writer: false, KillHolder: false, ChaosEnding.DaemonKilledDuringCheck, Durable: [false],
            KillDelayMilliseconds: 5),
    ];

    [Test]
    [Description("a fixed tour of chaos rounds (concurrent reboots, names used again with new contents, holders killed before and during a reboot, a reboot client killed while frozen with a held caller, a reboot command killed, the daemon killed idle, during reboots, during a check and by kill@N, unmount, also while frozen) against the model")]
    public void A_tour_of_chaos_rounds_keeps_the_model()
    {
        using var driver = new ChaosDriver(seed: 11);
        Run(driver, Tour.Length, round => Tour[round - 1], seed: 11, writers: true);

        Assert.Multiple(() =>
        {
            Assert.That(driver.Summary.ActionCount("reboot refused EBUSY") + driver.Summary.ActionCount("reboot refused ESTALE"), Is.EqualTo(3),
                "the commands that lost were refused");
            Assert.That(driver.Summary.ActionCount("holder killed"), Is.EqualTo(1));
            Assert.That(driver.Summary.StateCount("start after a kill offers a durable generation, whole"), Is.EqualTo(1));
            Assert.That(driver.Summary.StateCount("daemon killed during a durable reboot: after its commit"), Is.GreaterThanOrEqualTo(1),
                "the daemon killed after a durable reboot");
        });
    }

    [Test]
    [Explicit("long mode (scripts/chaos): LIVEUPDATEFS_CHAOS_ROUNDS rounds, about a tenth of a second each")]
    [Category("Chaos")]
    [Description("thousands of random chaos rounds against the model (LIVEUPDATEFS_CHAOS_ROUNDS, default 1000; LIVEUPDATEFS_CHAOS_SEED repeats a run; LIVEUPDATEFS_CHAOS_WRITERS=0 leaves the writers out)")]
    public void Random_chaos_rounds_keep_the_model()
    {
        int rounds = int.TryParse(Environment.GetEnvironmentVariable("LIVEUPDATEFS_CHAOS_ROUNDS"), out int given) && given > 0 ? given : 1000;
        int seed = int.TryParse(Environment.GetEnvironmentVariable("LIVEUPDATEFS_CHAOS_SEED"), out int fixedSeed) ? fixedSeed : Random.Shared.Next();
        bool writers = Environment.GetEnvironmentVariable("LIVEUPDATEFS_CHAOS_WRITERS") != "0";
        TestContext.Progress.WriteLine($"chaos: seed {seed}, {rounds} rounds, writers {(writers ? "on" : "off")}");
        var random = new Random(seed);
        using var driver = new ChaosDriver(seed);

        Run(driver, rounds, _ => ChaosRoundPlan.Random(random, driver.Model.Holders.Count, driver.Model.OpenedThisBoot, writers), seed, writers);
    }

    [Test]
    [Description("durable reboots of a session whose holder keeps writing its memfd: what the next boot retrieves is one instant of it")]
    public void A_durable_freeze_of_a_running_writer_keeps_one_instant()
    {
        var plan = new ChaosRoundPlan(KillDaemonFirst: false, Check: true, Creates: [], Writer: true, KillHolder: false, ChaosEnding.RebootGroup, Durable: [true]);
        using var driver = new ChaosDriver(seed: 12);
        Run(driver, 20, _ => plan, seed: 12, writers: true);
    }

    /// <summary>Runs the rounds and the final check; prints the summary, and on a failure
    /// also the last actions and the daemon's log, with the seed that repeats the run.</summary>
    private static void Run(ChaosDriver driver, int rounds, Func<int, ChaosRoundPlan> planOf, int seed, bool writers)
    {
        try
        {
            for (int round = 1; round <= rounds; round++)
            {
                driver.RunRound(round, planOf(round));
                if (round % 100 == 0)
                    TestContext.Progress.WriteLine($"chaos: {round} rounds done");
            }
            driver.Finish();
        }
        catch (Exception)
        {
            string kept = driver.KeepEvidence(Path.Combine(Repository.Artifacts, "chaos"));
            TestContext.Out.WriteLine($"chaos: FAILED (seed {seed}); the last actions:\n{driver.Journal}\n"
                + $"chaos: these actions and the daemon's whole log are kept in {kept}");
            throw;
        }
        finally
        {
            foreach (string line in driver.Summary.Lines(seed, writers))
                TestContext.Out.WriteLine(line);
        }
    }
}
