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
    [Description("design.md: LIVEUPDATEFS_PRELOAD=off makes a loaded library inert (for /etc/ld.so.preload set-ups): the program sees no library")]
    public void Library_switched_off_behaves_as_no_library()
    {
        Repository.RequireArtifacts();
        ProcessResult result = _emulator.RunCTest("nolib_test", preload: true, [], new Dictionary<string, string?> { ["LIVEUPDATEFS_PRELOAD"] = "off" });
        Tap.AssertAllPassed(result, "nolib_test with the library loaded and switched off", _emulator);
    }

    [Test]
    public void Daemon_is_still_serving_after_the_suite()
    {
        ProcessResult status = _emulator.Cli(["status", "--mountpoint", _emulator.Mountpoint, "--json"]);
        Assert.That(status.ExitCode, Is.Zero, status.Output + _emulator.LogTail());
        Assert.That(status.Output, Does.Contain("\"sessions\""));
    }
}
