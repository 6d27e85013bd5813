namespace LiveUpdateFs.Tests.Integration;

/// <summary>
/// tests/fuzz/luo_fuzz in its short mode (20k bad and random requests from
/// 4 processes x 2 threads, plus children SIGKILLed mid-request) against a
/// fresh daemon, then what the run must not have done to the daemon: kill
/// it, wedge it, leak its fds or grow its memory. The long mode (1M calls)
/// is `./scripts/fuzz`, which checks the same things.
/// </summary>
[TestFixture]
[NonParallelizable]
[Category("Integration")]
public sealed class FuzzTests
{
    /// <summary>
    /// The bound on the daemon's RSS growth over the short run. An idle daemon
    /// is ~9 MiB and the run typically adds 4-6 MiB: the GC heap settling at its
    /// working size and the pages of the log and FUSE buffers. What the bound
    /// is for: a leak per request (say 1 KiB kept per call is 20 MiB over 20k
    /// calls) or per session/preserved file (10000 sessions cost ~20 MiB, see
    /// README "Speed") goes past it, the GC's settling does not.
    /// </summary>
    private const long RssGrowthBoundKiB = 16 * 1024;

    [Test]
    [Description("issue 6: short fuzz run; every answer allowed by spec §2/§4/§6, then the daemon is alive, serves, and has its fds and memory back")]
    public void Short_fuzz_run_leaves_the_daemon_serving_without_leaks()
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        Assert.That(Path.Exists(Repository.FuzzClient), Is.True, $"{Repository.FuzzClient} is missing: run ./scripts/setup");
        int pid = emulator.DaemonPid;
        int fdsBefore = FdCount(pid);
        long rssBefore = RssKiB(pid);

        ProcessResult run = emulator.RunClient(Repository.FuzzClient, preload: true, ["short"]);
        Tap.AssertAllPassed(run, "luo_fuzz short", emulator);

        Assert.That(MountedEmulator.IsAlive(pid), Is.True, $"the daemon died during the run\n{emulator.LogTail()}");
        ProcessResult sanity = emulator.RunClient(Repository.FuzzClient, preload: true, ["sanity"]);
        Tap.AssertAllPassed(sanity, "luo_fuzz sanity (a valid sequence after the run)", emulator);

        // Every client has exited, but FUSE sends releases asynchronously: give them a moment.
        int fdsAfter = FdCount(pid);
        for (int i = 0; i < 50 && fdsAfter > fdsBefore; i++)
        {
            Thread.Sleep(100);
            fdsAfter = FdCount(pid);
        }
        long rssAfter = RssKiB(pid);
        TestContext.Out.WriteLine($"daemon pid {pid}: fds {fdsBefore} -> {fdsAfter}, VmRSS {rssBefore} -> {rssAfter} KiB");
        Assert.Multiple(() =>
        {
            Assert.That(fdsAfter, Is.EqualTo(fdsBefore), $"the daemon's fd count did not come back\n{emulator.LogTail()}");
            Assert.That(rssAfter - rssBefore, Is.LessThan(RssGrowthBoundKiB), $"the daemon's RSS grew by {rssAfter - rssBefore} KiB");
        });
    }

    private static int FdCount(int pid) => Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd").Count();

    private static long RssKiB(int pid) =>
        long.Parse(File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
}
