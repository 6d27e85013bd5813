using System.Text.RegularExpressions;

namespace LiveUpdateFs.Tests.Integration;

/// <summary>
/// a durable freeze is one instant, as the kernel's
/// handover of the pages themselves is (docs/behaviour.md §7, §8.2), and it never moves a
/// process's file position. tests/c/snapshot_stages leaves a writer (an
/// emulator fd holder stamping pass counters with pwrite), a mapper (no fd,
/// only a mapping, stamping through it) and a watcher (spinning on
/// lseek(SEEK_CUR)) running across the freeze.
/// </summary>
[TestFixture]
[NonParallelizable]
[Category("Integration")]
public sealed partial class SnapshotInstantTests
{
    private const string WatchedPosition = "12345";

    [Test]
    [Description("docs/behaviour.md §7: reboot --durable copies the memfds of one instant while a holder and a mapper write them; the holder is ended, the mapper (no emulator fd) stopped for the copy and running again after")]
    public void Durable_reboot_copies_one_instant_and_the_mapper_runs_again()
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        using Writers writers = Writers.Start(emulator);

        ProcessResult reboot = emulator.Reboot(null, "--durable");

        Assert.That(reboot.ExitCode, Is.Zero, reboot.Output + emulator.LogTail());
        Assert.Multiple(() =>
        {
            Assert.That(HasEnded(writers.Writer), Is.True, "the writer holds the session fd: the reboot ends it");
            Assert.That(IsRunning(writers.Mapper), Is.True, $"the mapper holds no emulator fd: it runs again (state {State(writers.Mapper)})");
            Assert.That(IsRunning(writers.Watcher), Is.True, $"the watcher holds no emulator fd: it runs again (state {State(writers.Watcher)})");
            Assert.That(StoppedForTheSnapshot(emulator), Is.SupersetOf(new[] { writers.Writer, writers.Mapper, writers.Watcher }),
                "every process that can write a preserved memfd was stopped for the copy");
            Assert.That(ResumedAfterTheSnapshot(emulator), Is.EquivalentTo(new[] { writers.Mapper, writers.Watcher }),
                "after the commit the processes without emulator fds were resumed; the holder waited for its end");
        });
        writers.Check(emulator);
    }

    [Test]
    [Description("docs/behaviour.md §8.2: the freeze only reads a preserved memfd's file position; a process spinning on lseek(fd, 0, SEEK_CUR), and /proc/PID/fdinfo read throughout, see it never move")]
    public void Durable_freeze_never_moves_a_callers_file_position()
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        using Writers writers = Writers.Start(emulator);
        using var polling = new CancellationTokenSource();
        Task<(long Reads, long Moves, string Last)> watch = Task.Run(() => WatchPosition(writers.Watcher, writers.WatcherFd, polling.Token));

        ProcessResult reboot = emulator.Reboot(null, "--durable");
        polling.Cancel();
        var (reads, moves, last) = watch.Result;

        Assert.That(reboot.ExitCode, Is.Zero, reboot.Output + emulator.LogTail());
        TestContext.Out.WriteLine($"fdinfo read {reads} times during the reboot");
        Assert.Multiple(() =>
        {
            Assert.That(reads, Is.Positive, "the position was watched");
            Assert.That(moves, Is.Zero, $"fdinfo showed the watcher's position away from {WatchedPosition} (last {last})");
            Assert.That(writers.StopWatcher(), Does.Contain(" moves 0 "), "the watcher's own lseek(SEEK_CUR) never saw a move");
        });
        writers.Check(emulator);
    }

    [Test]
    [Description("docs/behaviour.md §7: unmount (SIGTERM) freezes durably with live writers: one instant, and every stopped process runs again afterwards, the holder too")]
    public void Unmount_with_live_writers_hands_over_one_instant_and_resumes_everyone()
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        using Writers writers = Writers.Start(emulator);

        ProcessResult stopped = emulator.Cli(["unmount", "--mountpoint", emulator.Mountpoint]);

        Assert.That(stopped.ExitCode, Is.Zero, stopped.Output + emulator.LogTail());
        Assert.Multiple(() =>
        {
            foreach (int pid in new[] { writers.Writer, writers.Mapper, writers.Watcher })
                Assert.That(IsRunning(pid), Is.True, $"pid {pid} runs again after the stop (state {State(pid)})");
            Assert.That(StoppedForTheSnapshot(emulator), Is.SupersetOf(new[] { writers.Writer, writers.Mapper, writers.Watcher }));
        });
        emulator.Mount();
        writers.Check(emulator);
    }

    [Test]
    [Description("docs/behaviour.md §7: a durable freeze that fails changes nothing: the processes stopped for it all run again; a retry copies one instant")]
    public void Failed_durable_freeze_resumes_every_stopped_process()
    {
        using MountedEmulator emulator = MountedEmulator.Start(environment: new Dictionary<string, string?> { ["LIVEUPDATEFS_FAULT"] = "fail@freeze-file#2" });
        using Writers writers = Writers.Start(emulator);

        ProcessResult reboot = emulator.Reboot(null, "--durable");

        Assert.That(reboot.ExitCode, Is.EqualTo(1), reboot.Output);
        Assert.That(reboot.Output, Does.Contain("failed with EIO: nothing changed"));
        int[] all = [writers.Writer, writers.Mapper, writers.Watcher];
        Assert.Multiple(() =>
        {
            foreach (int pid in all)
                Assert.That(IsRunning(pid), Is.True, $"pid {pid} runs again after the failed freeze (state {State(pid)})");
            Assert.That(StoppedForTheSnapshot(emulator), Is.SupersetOf(all), "they were stopped for the attempt");
            Assert.That(Log(emulator), Does.Match(@"Resumed 3 processes stopped for the durable snapshot \(the freeze was called off\)"));
        });

        ProcessResult retry = emulator.Reboot(null, "--durable");
        Assert.That(retry.ExitCode, Is.Zero, retry.Output + emulator.LogTail());
        writers.Check(emulator);
    }

    [Test]
    [Description("docs/behaviour.md §7: reboot --durable --keep-processes: the holders, stopped for the copy and not ended, run again once the old daemon is gone")]
    public void Kept_holders_run_again_after_a_durable_reboot()
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        using Writers writers = Writers.Start(emulator);

        ProcessResult reboot = emulator.Reboot(null, "--durable", "--keep-processes");

        Assert.That(reboot.ExitCode, Is.Zero, reboot.Output + emulator.LogTail());
        foreach (int pid in new[] { writers.Writer, writers.Mapper, writers.Watcher })
            Assert.That(IsRunning(pid), Is.True, $"pid {pid} runs (state {State(pid)})");
        writers.Check(emulator);
    }

    /// <summary>The three processes of `snapshot_stages start`; disposing ends them.</summary>
    private sealed partial class Writers : IDisposable
    {
        private readonly string _report;

        private Writers(int writer, int mapper, int watcher, int watcherFd, string report)
        {
            Writer = writer;
            Mapper = mapper;
            Watcher = watcher;
            WatcherFd = watcherFd;
            _report = report;
        }

        public int Writer { get; }
        public int Mapper { get; }
        public int Watcher { get; }
        public int WatcherFd { get; }

        public static Writers Start(MountedEmulator emulator)
        {
            string report = Path.Combine(emulator.Directory, "watcher-report");
            ProcessResult result = emulator.RunCTest("snapshot_stages", "start", report);
            Match writer = WriterLine().Match(result.Output), mapper = MapperLine().Match(result.Output), watcher = WatcherLine().Match(result.Output);
            var started = new Writers(writer.Success ? int.Parse(writer.Groups[1].Value) : 0, mapper.Success ? int.Parse(mapper.Groups[1].Value) : 0,
                watcher.Success ? int.Parse(watcher.Groups[1].Value) : 0, watcher.Success ? int.Parse(watcher.Groups[2].Value) : -1, report);
            try
            {
                Tap.AssertAllPassed(result, "snapshot_stages start", emulator);
                Assert.That(started.Writer > 0 && started.Mapper > 0 && started.Watcher > 0, Is.True, result.Output);
            }
            catch
            {
                started.Dispose();
                throw;
            }
            return started;
        }

        /// <summary>`snapshot_stages check` in the next boot: one instant per written memfd, the position kept.</summary>
        public void Check(MountedEmulator emulator)
        {
            ProcessResult result = emulator.RunCTest("snapshot_stages", "check");
            Tap.AssertAllPassed(result, "snapshot_stages check", emulator);
        }

        /// <summary>SIGTERM to the watcher; returns its report ("spins S moves M last P").</summary>
        public string StopWatcher()
        {
            LiveUpdateFs.Interop.Signals.Terminate(Watcher);
            for (int i = 0; i < 1000 && !(File.Exists(_report) && File.ReadAllText(_report).EndsWith('\n')); i++)
                Thread.Sleep(10);
            string report = File.Exists(_report) ? File.ReadAllText(_report) : "(no report)";
            TestContext.Out.WriteLine($"watcher: {report}");
            return report;
        }

        public void Dispose()
        {
            foreach (int pid in new[] { Writer, Mapper, Watcher }.Where(p => p > 0 && !HasEnded(p)))
                LiveUpdateFs.Interop.Signals.Kill(pid);
        }

        [GeneratedRegex(@"^# writer pid (\d+)$", RegexOptions.Multiline)]
        private static partial Regex WriterLine();

        [GeneratedRegex(@"^# mapper pid (\d+)$", RegexOptions.Multiline)]
        private static partial Regex MapperLine();

        [GeneratedRegex(@"^# watcher pid (\d+) fd (\d+)$", RegexOptions.Multiline)]
        private static partial Regex WatcherLine();
    }

    /// <summary>Reads the watcher's file position from /proc/PID/fdinfo/FD
    /// until cancelled: how often, how often it was not the watched one, the last such.</summary>
    private static (long Reads, long Moves, string Last) WatchPosition(int pid, int fd, CancellationToken stop)
    {
        long reads = 0, moves = 0;
        string last = WatchedPosition;
        string path = $"/proc/{pid}/fdinfo/{fd}";
        while (!stop.IsCancellationRequested)
        {
            string info;
            try
            {
                info = File.ReadAllText(path);
            }
            catch (IOException)
            {
                break;
            }
            reads++;
            string position = info.Split('\n')[0].Split('\t', ' ').Last(); // "pos:\t12345"
            if (position != WatchedPosition)
            {
                moves++;
                last = position;
            }
        }
        return (reads, moves, last);
    }

    /// <summary>The state letter of /proc/PID/stat, or null when the process is gone.</summary>
    private static char? State(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[stat.LastIndexOf(')') + 2];
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Gone, or a zombie (PID 1 here reaps orphans late).</summary>
    private static bool HasEnded(int pid) => State(pid) is null or 'Z' or 'X';

    /// <summary>Alive and not stopped.</summary>
    private static bool IsRunning(int pid) => State(pid) is { } state && state is not ('Z' or 'X' or 'T' or 't');

    private static string Log(MountedEmulator emulator) => File.ReadAllText(Path.Combine(emulator.Store, "liveupdatefs.log"));

    /// <summary>The pids of the daemon's "Stopped N processes for the durable snapshot" lines.</summary>
    private static List<int> StoppedForTheSnapshot(MountedEmulator emulator) => PidsOf(StoppedLine(), Log(emulator));

    /// <summary>The pids of the daemon's "Resumed N processes after the durable snapshot" lines.</summary>
    private static List<int> ResumedAfterTheSnapshot(MountedEmulator emulator) => PidsOf(ResumedLine(), Log(emulator));

    private static List<int> PidsOf(Regex line, string log) =>
        line.Matches(log).SelectMany(m => m.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Select(int.Parse).ToList();

    [GeneratedRegex(@"Stopped \d+ processes for the durable snapshot in \d+ ms: pids ([\d ]+) \(")]
    private static partial Regex StoppedLine();

    [GeneratedRegex(@"Resumed \d+ processes after the durable snapshot, stopped for \d+ ms: pids ([\d ]+);")]
    private static partial Regex ResumedLine();
}
