using System.Text.Json;
using System.Text.RegularExpressions;

namespace LiveUpdateFs.Tests.Integration;

/// <summary>
/// Load across a live update (docs/behaviour.md §3-§5, §7): tests/c/load_stages
/// runs 16 concurrent clients (the short mode, 16 × 500 operations) and the
/// upstream-scale shapes (2000 sessions; 500 files in one session) before and
/// after `liveupdatefs reboot`, in place and durable. The before stages print
/// what must be frozen ("# model: S sessions, F files"); the reboot must
/// report exactly that, and the after stages must find exactly the modelled
/// sessions and files, with their contents, and nothing else.
/// </summary>
[TestFixture]
[NonParallelizable]
[Category("Integration")]
public sealed partial class LoadTests
{
    // The daemon logs at information level: a debug line per request would be most of the time here.
    [TestCase(false)]
    [TestCase(true)]
    [Description("docs/behaviour.md §4, §5.2, §7, §8: 16 concurrent clients × 500 seeded operations; exactly the modelled sessions and files come back, contents right, nothing else")]
    public void Sixteen_concurrent_clients_keep_exactly_the_modelled_state(bool durable)
    {
        using MountedEmulator emulator = MountedEmulator.Start(logLevel: "information");
        string model = Path.Combine(emulator.Directory, "load-model");
        AcrossReboot(emulator, durable, ["before", model, "short"], ["after", model]);
    }

    [TestCase(false)]
    [TestCase(true)]
    [Description("docs/behaviour.md §5.3, §7: 2000 sessions with a memfd each and one session with 500 memfds cross a reboot, all retrieved and checked")]
    public void Upstream_scale_shapes_cross_a_reboot(bool durable)
    {
        using MountedEmulator emulator = MountedEmulator.Start(logLevel: "information");
        AcrossReboot(emulator, durable, ["shapes-before"], ["shapes-after"]);
    }

    /// <summary>before stage, reboot (which must freeze what the model says and end the holders), after stage,
    /// and then no session is left.</summary>
    private static void AcrossReboot(MountedEmulator emulator, bool durable, string[] before, string[] after)
    {
        List<int> holders = [];
        try
        {
            ProcessResult first = Run(emulator, before);
            holders = HolderLine().Matches(first.Output).Select(m => int.Parse(m.Groups[1].Value)).ToList();
            Match model = ModelLine().Match(first.Output);
            Assert.That(model.Success, Is.True, first.Output);
            Assert.That(holders, Is.Not.Empty, first.Output);

            ProcessResult reboot = emulator.Reboot(null, durable ? ["--durable"] : []);
            TestContext.Out.WriteLine(reboot.Output);
            Assert.That(reboot.ExitCode, Is.Zero, reboot.Output + emulator.LogTail());
            Assert.That(reboot.Output, Does.Contain($"froze {model.Groups[1].Value} sessions, {model.Groups[2].Value} files"),
                "the reboot freezes exactly the modelled sessions and files");
            Assert.That(holders.Where(MountedEmulator.IsAlive), Is.Empty, "the reboot ended every holder");

            Run(emulator, after);
            AssertNoSessionLeft(emulator);
        }
        finally
        {
            foreach (int pid in holders.Where(MountedEmulator.IsAlive))
                LiveUpdateFs.Interop.Signals.Kill(pid);
        }
    }

    private static ProcessResult Run(MountedEmulator emulator, string[] arguments)
    {
        ProcessResult result = emulator.RunCTest("load_stages", arguments);
        Tap.AssertAllPassed(result, $"load_stages {string.Join(' ', arguments)}", emulator);
        return result;
    }

    /// <summary>Everything was finished or closed: the daemon holds no session (the last releases may still be in flight).</summary>
    private static void AssertNoSessionLeft(MountedEmulator emulator)
    {
        string left = "";
        for (int attempt = 0; attempt < 50; attempt++)
        {
            using JsonDocument status = emulator.Status() ?? throw new AssertionException("no daemon answers status.json");
            JsonElement sessions = status.RootElement.GetProperty("sessions");
            if (sessions.GetArrayLength() == 0)
                return;
            left = sessions.GetRawText();
            Thread.Sleep(100);
        }
        Assert.Fail($"sessions left after the after stage:\n{left}");
    }

    [GeneratedRegex(@"^# holder pid (\d+)$", RegexOptions.Multiline)]
    private static partial Regex HolderLine();

    [GeneratedRegex(@"^# model: (\d+) sessions, (\d+) files$", RegexOptions.Multiline)]
    private static partial Regex ModelLine();
}
