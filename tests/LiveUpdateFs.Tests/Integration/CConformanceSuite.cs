using System.Text.RegularExpressions;

namespace LiveUpdateFs.Tests.Integration;

/// <summary>
/// The heart of the suite: every C program in tests/c, built into
/// artifacts/tests/c, run against one live mount, in name order.
/// </summary>
[TestFixture]
[NonParallelizable]
[Category("Integration")]
public sealed partial class CConformanceSuite
{
    private MountedEmulator _emulator = null!;

    [OneTimeSetUp]
    public void Mount() => _emulator = MountedEmulator.Start();

    [OneTimeTearDown]
    public void Unmount() => _emulator.Dispose();

    public static IEnumerable<string> Programs() =>
        Directory.Exists(Repository.CTests)
            ? Directory.EnumerateFiles(Repository.CTests, "*_test").Select(Path.GetFileName).Order().Cast<string>()
            : ["(artifacts/tests/c missing: run ./scripts/setup)"];

    [TestCaseSource(nameof(Programs))]
    public void Program_passes_every_case(string program)
    {
        Repository.RequireArtifacts();
        ProcessResult result = _emulator.RunCTest(program);
        TestContext.Out.WriteLine(result.Output);

        Assert.That(result.TimedOut, Is.False, $"{program} did not finish: a request got no reply?\n{_emulator.LogTail()}");
        Match summary = Summary().Match(result.Output);
        Assert.That(summary.Success, Is.True, $"{program} printed no 'N passed, M failed' line (crashed?)\n{_emulator.LogTail()}");
        int passed = int.Parse(summary.Groups[1].Value);
        int failed = int.Parse(summary.Groups[2].Value);
        Assert.Multiple(() =>
        {
            Assert.That(failed, Is.Zero, $"{program}: {failed} case(s) failed:\n{string.Join('\n', result.Output.Split('\n').Where(l => l.StartsWith("not ok")))}");
            Assert.That(passed, Is.Positive, $"{program} ran no case");
            Assert.That(result.ExitCode, Is.Zero, $"{program} exited with {result.ExitCode}");
        });
    }

    [Test]
    public void Daemon_is_still_serving_after_the_suite()
    {
        ProcessResult status = _emulator.Cli(["status", "--mountpoint", _emulator.Mountpoint, "--json"]);
        Assert.That(status.ExitCode, Is.Zero, status.Output + _emulator.LogTail());
        Assert.That(status.Output, Does.Contain("\"sessions\""));
    }

    [GeneratedRegex(@"^(\d+) passed, (\d+) failed$", RegexOptions.Multiline)]
    private static partial Regex Summary();
}
