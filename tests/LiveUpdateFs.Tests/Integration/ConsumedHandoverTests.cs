namespace LiveUpdateFs.Tests.Integration;

/// <summary>
/// A handover is consumed once (docs/behaviour.md §3, §7.1): the kernel hands its sessions
/// to the boot that follows the kexec, and a kernel that crashes later
/// cold-boots with nothing handed over. The emulator's counterpart: the first
/// open of the device marks the committed generation consumed, durably, so a
/// daemon killed after it restarts with no incoming sessions rather than
/// offering stale memory a second time.
/// </summary>
[TestFixture]
[NonParallelizable]
[Category("Integration")]
public sealed class ConsumedHandoverTests
{
    private const string AlreadyHandedOver = "was already handed over to a boot that then ended without a reboot";

    [TestCase(true)]
    [TestCase(false)]
    [Description("docs/behaviour.md §3, §7.1: reboot, RETRIEVE_SESSION + RETRIEVE_FD + FINISH, SIGKILL, mount: RETRIEVE_SESSION is ENOENT and the log says why")]
    public void Crash_after_the_first_open_boots_cold(bool durable)
    {
        using MountedEmulator emulator = RebootedAfterCrashOld(durable);
        Assert.That(emulator.CrashCheck(), Is.EqualTo("old"), "retrieved, checked and finished");

        emulator.KillDaemon();
        emulator.Mount();

        Assert.That(emulator.CrashCheck(), Is.EqualTo("none"), "the consumed sessions are not offered again");
        Assert.That(emulator.LogTail(), Does.Contain(AlreadyHandedOver).And.Contain("starts cold"));
    }

    [Test]
    [Description("docs/behaviour.md §3: a durable handover whose daemon dies before the first open is still offered, whole; once opened, it is consumed")]
    public void Crash_before_the_first_open_still_offers_the_sessions_once()
    {
        using MountedEmulator emulator = RebootedAfterCrashOld(durable: true);

        emulator.KillDaemon(); // nobody opened the device of this boot
        emulator.Mount();
        Assert.That(emulator.CrashCheck(), Is.EqualTo("old"), "every session and byte is offered after the crash");

        emulator.KillDaemon();
        emulator.Mount();
        Assert.That(emulator.CrashCheck(), Is.EqualTo("none"), "offered once: the open before this crash consumed them");
    }

    [TestCase(true)]
    [TestCase(false)]
    [Description("docs/behaviour.md §7: after a consumed handover the next reboot hands over exactly the new boot's sessions, once")]
    public void Reboot_after_a_consumed_handover_hands_over_exactly_the_new_sessions(bool durable)
    {
        using MountedEmulator emulator = RebootedAfterCrashOld(durable);
        Assert.That(emulator.CrashCheck(), Is.EqualTo("old"));
        emulator.RunStage("crash-new");

        ProcessResult reboot = emulator.Reboot(null, durable ? ["--durable"] : []);
        Assert.That(reboot.ExitCode, Is.Zero, reboot.Output + emulator.LogTail());
        Assert.That(reboot.Output, Does.Contain("froze 3 sessions, 6 files"));
        if (durable)
        {
            emulator.KillDaemon(); // before the first open: the new generation is not consumed yet
            emulator.Mount();
        }
        Assert.That(emulator.CrashCheck(), Is.EqualTo("new"), "new-a, new-b, new-c complete; old-* absent");

        emulator.KillDaemon();
        emulator.Mount();
        Assert.That(emulator.CrashCheck(), Is.EqualTo("none"));
        Assert.That(emulator.LogTail(), Does.Contain(AlreadyHandedOver), "the new generation was consumed too");
    }

    [Test]
    [Description("docs/behaviour.md §3: when the consumed mark cannot be written the open fails with EIO and consumes nothing; the next open tries again")]
    public void Failed_consumed_mark_fails_the_open_and_consumes_nothing()
    {
        using MountedEmulator emulator = RebootedWithAFailingMark();

        ProcessResult refused = emulator.RunCTest("reboot_stages", "crash-check");
        Assert.That(refused.Output, Does.Contain("open the device (errno 5 (EIO)"), refused.Output);
        Assert.That(emulator.LogTail(), Does.Contain("open the device again"));

        emulator.KillDaemon();
        emulator.Mount();
        Assert.That(emulator.CrashCheck(), Is.EqualTo("old"), "the failed open consumed nothing");
    }

    [Test]
    [Description("docs/behaviour.md §3: after a failed consumed mark, a later open of the same boot marks it and hands the sessions over")]
    public void Open_after_a_failed_consumed_mark_hands_over()
    {
        using MountedEmulator emulator = RebootedWithAFailingMark();
        ProcessResult refused = emulator.RunCTest("reboot_stages", "crash-check");
        Assert.That(refused.Output, Does.Contain("open the device (errno 5 (EIO)"), refused.Output);

        Assert.That(emulator.CrashCheck(), Is.EqualTo("old"), "the second open succeeds");

        emulator.KillDaemon();
        emulator.Mount();
        Assert.That(emulator.CrashCheck(), Is.EqualTo("none"));
    }

    /// <summary>crash-old's two sessions and a durable reboot, whose next boot
    /// is then killed before anyone opened the device and started again with
    /// a consumed mark that fails once. (The reboot's own next boot is the same
    /// process, after an exec: a fault needs a daemon started with it.)</summary>
    private static MountedEmulator RebootedWithAFailingMark()
    {
        MountedEmulator emulator = RebootedAfterCrashOld(durable: true);
        emulator.KillDaemon();
        emulator.Mount(new Dictionary<string, string?> { ["LIVEUPDATEFS_FAULT"] = "fail@consumed-write" });
        return emulator;
    }

    /// <summary>crash-old's two sessions, then a reboot: the next boot offers them.</summary>
    private static MountedEmulator RebootedAfterCrashOld(bool durable)
    {
        MountedEmulator emulator = MountedEmulator.Start();
        emulator.RunStage("crash-old");
        ProcessResult reboot = emulator.Reboot(null, durable ? ["--durable"] : []);
        Assert.That(reboot.ExitCode, Is.Zero, reboot.Output + emulator.LogTail());
        return emulator;
    }
}
