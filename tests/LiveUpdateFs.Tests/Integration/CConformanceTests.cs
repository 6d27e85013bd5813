namespace LiveUpdateFs.Tests.Integration;

/// <summary>
/// The heart of the suite: every C program in tests/c, built into
/// artifacts/tests/c (and artifacts/tests/c/static), run against one live
/// mount, in name order, in each client mode that applies.
/// </summary>
[TestFixture]
[NonParallelizable]
[Category("Integration")]
public sealed class CConformanceTests
{
    private MountedEmulator _emulator = null!;

    [OneTimeSetUp]
    public void Mount() => _emulator = MountedEmulator.Start();

    [OneTimeTearDown]
    public void Unmount() => _emulator.Dispose();

    private static IEnumerable<string> ProgramNames() =>
        Directory.Exists(Repository.CTests)
            ? Directory.EnumerateFiles(Repository.CTests, "*_test").Select(Path.GetFileName).Order().Cast<string>()
            : ["(artifacts/tests/c missing: run ./scripts/setup)"];

    /// <summary>
    /// Every *_test program three ways: the dynamic build with the preload library,
    /// the dynamic build under `liveupdatefs run` (the seccomp filter serves its fd-returning
    /// requests) and the -static build under `run` (no library can load into it). Two programs
    /// test one mechanism and run only where it applies: nolib_test checks what a program sees
    /// with neither the library nor the filter (EOPNOTSUPP), so it runs once, without the library
    /// (the first pass); preload_test checks the library itself (its envelope probe, its signal
    /// safety, its frozen-size query), so it runs only with the library.
    /// </summary>
    public static IEnumerable<TestCaseData> Programs()
    {
        foreach (string program in ProgramNames())
        {
            if (program.StartsWith("nolib_", StringComparison.Ordinal))
            {
                yield return Case(program, ClientMode.NoLibrary);
                continue;
            }
            yield return Case(program, ClientMode.Preload);
            if (program.StartsWith("preload_", StringComparison.Ordinal))
                continue;
            yield return Case(program, ClientMode.Seccomp);
            yield return Case(program, ClientMode.SeccompStatic);
        }
    }

    /// <summary>The case's name shows the mode, so a filter can pick one (e.g. `~SeccompStatic`).</summary>
    private static TestCaseData Case(string program, ClientMode mode) =>
        new TestCaseData(program, mode).SetArgDisplayNames(program, mode.ToString());

    /// <summary>Programs that must end well before the default 5 minutes:
    /// preload_test's signal case hangs for good if the library takes a lock
    /// a signal handler can take again (it kills its own child after 30 s).</summary>
    private static readonly Dictionary<string, TimeSpan> Timeouts = new()
    {
        ["preload_test"] = TimeSpan.FromSeconds(90),
    };

    [TestCaseSource(nameof(Programs))]
    public void Program_passes_every_case(string program, ClientMode mode)
    {
        Repository.RequireArtifacts();
        ProcessResult result = _emulator.RunCTest(program, mode, [],
            timeout: Timeouts.TryGetValue(program, out TimeSpan timeout) ? timeout : null);
        Tap.AssertAllPassed(result, $"{program} ({mode})", _emulator);
    }

    [Test]
    [Description("the library asks the frozen size of the mount whose daemon answered last (CREATE_SESSION on a second mount, back on the first, then a PRESERVE_FD on the second), not of the first FUSE mount it met")]
    public void Library_asks_the_mount_that_answered_last()
    {
        Repository.RequireArtifacts();
        using MountedEmulator second = MountedEmulator.Start();
        ProcessResult result = _emulator.RunCTest("preload_test", ClientMode.Preload, ["two-mounts", second.Device], timeout: TimeSpan.FromSeconds(90));
        Tap.AssertAllPassed(result, "preload_test two-mounts", _emulator);
    }

    [Test]
    [Description("docs/design.md §10.4: LIVEUPDATEFS_PRELOAD=off makes a loaded library inert (for /etc/ld.so.preload set-ups): the program sees no library")]
    public void Library_switched_off_behaves_as_no_library()
    {
        Repository.RequireArtifacts();
        ProcessResult result = _emulator.RunCTest("nolib_test", ClientMode.Preload, [], new Dictionary<string, string?> { ["LIVEUPDATEFS_PRELOAD"] = "off" });
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
