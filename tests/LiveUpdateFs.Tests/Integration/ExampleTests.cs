using System.Text.Json;

namespace LiveUpdateFs.Tests.Integration;

/// <summary>
/// The example users copy (examples/): examples/run-example.sh runs
/// the agent and two VMMs built into artifacts/examples against a mounted
/// emulator, performs a live update and checks that the VMMs of the next boot
/// get their guest RAM back (docs/behaviour.md §3, §4.1-§4.5, §5.2, §7, §8).
/// </summary>
[TestFixture]
[NonParallelizable]
[Category("Integration")]
public sealed class ExampleTests
{
    private static string Examples => Path.Combine(Repository.Artifacts, "examples");
    private static string Script => Path.Combine(Repository.Root, "examples", "run-example.sh");

    /// <summary>A missing build is a failure, never a skip (like <see cref="Repository.RequireArtifacts"/>).</summary>
    private static void RequireExamples()
    {
        Repository.RequireArtifacts();
        foreach (string program in new[] { "luo-agent", "vmm" })
        {
            string path = Path.Combine(Examples, program);
            if (!File.Exists(path))
                Assert.Fail($"{path} is missing: run ./scripts/setup (it runs make -C examples)");
        }
    }

    [Test]
    [Description("docs/behaviour.md §7, §4.1-§4.5, §8: alpha (64 MiB) and beta (16 MiB) preserve their guest RAM through the agent's sessions; "
        + "after liveupdatefs reboot the next boot's VMMs retrieve, verify and finish; nothing is left running or held")]
    public void Walkthrough_script_restores_the_guest_RAM_of_both_VMs()
    {
        RequireExamples();
        using MountedEmulator emulator = MountedEmulator.Start();

        ProcessResult result = ProcessRunner.Run(Script, [emulator.Mountpoint], timeout: TimeSpan.FromMinutes(3));

        string details = $"{result.Output}\ndaemon log:\n{emulator.LogTail()}";
        Assert.Multiple(() =>
        {
            Assert.That(result.TimedOut, Is.False, "the script finished within 3 minutes\n" + details);
            Assert.That(result.ExitCode, Is.Zero, details);
            Assert.That(result.Output, Does.Contain("vmm alpha: guest RAM preserved (64 MiB)"), details);
            Assert.That(result.Output, Does.Contain("vmm beta: guest RAM preserved (16 MiB)"), details);
            Assert.That(result.Output, Does.Contain("vmm alpha: guest RAM restored and verified (64 MiB)"), details);
            Assert.That(result.Output, Does.Contain("vmm beta: guest RAM restored and verified (16 MiB)"), details);
        });

        Assert.That(ExampleProcesses(), Is.Empty, "the script leaves no agent, VMM or wrapper running");
        using JsonDocument status = emulator.Status() ?? throw new AssertionException("no daemon answers status.json");
        Assert.Multiple(() =>
        {
            Assert.That(status.RootElement.GetProperty("deviceOpen").GetBoolean(), Is.False, "the stopped agent closed the device");
            Assert.That(status.RootElement.GetProperty("sessions").GetArrayLength(), Is.Zero,
                "the finished sessions went away with the agent's fds");
        });
    }

    /// <summary>The running processes of artifacts/examples, and the
    /// `liveupdatefs run` wrappers that started them (their command lines name the program).</summary>
    private static List<int> ExampleProcesses()
    {
        string programs = Examples + "/";
        var found = new List<int>();
        foreach (string process in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(process), out int pid))
                continue;
            try
            {
                if (MountedEmulator.IsAlive(pid)
                    && File.ReadAllText(Path.Combine(process, "cmdline")).Contains(programs, StringComparison.Ordinal))
                    found.Add(pid);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The process ended while we looked.
            }
        }
        return found;
    }
}
