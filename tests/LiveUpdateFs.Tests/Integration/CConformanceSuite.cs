namespace LiveUpdateFs.Tests.Integration;

/// <summary>
/// The heart of the suite: every C program in tests/c, built into
/// artifacts/tests/c, run against one live mount, in name order.
/// </summary>
[TestFixture]
[NonParallelizable]
[Category("Integration")]
public sealed class CConformanceSuite
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
        Tap.AssertAllPassed(_emulator.RunCTest(program), program, _emulator);
    }

    [Test]
    public void Daemon_is_still_serving_after_the_suite()
    {
        ProcessResult status = _emulator.Cli(["status", "--mountpoint", _emulator.Mountpoint, "--json"]);
        Assert.That(status.ExitCode, Is.Zero, status.Output + _emulator.LogTail());
        Assert.That(status.Output, Does.Contain("\"sessions\""));
    }
}
