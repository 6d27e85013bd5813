namespace LiveUpdateFs.Tests.Integration;

/// <summary>
/// issue 12 (3): a caller cannot stall the daemon through a FUSE mount whose
/// server never answers (tests/c/hangfs). The daemon must neither fault in a
/// page of such a mount (a struct placed in a mapping of its file) nor
/// wait on it otherwise; docs/blocking.md.
/// </summary>
[NonParallelizable]
public class HungMountTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Test]
    [Description("GET_NAME and CREATE_SESSION with the struct in a private mapping of a hung FUSE file: EFAULT at once, and the daemon keeps serving")]
    public void A_struct_in_a_mapping_of_a_hung_mount_is_efault_and_stalls_nobody() => RunAgainstHungMount("mapped-arg");

    [Test]
    [Description("PRESERVE_FD of a file of a hung FUSE mount (its server busy for good): ENOENT at once; the daemon neither stats nor flushes it on its thread")]
    public void Preserving_a_file_of_a_hung_mount_is_enoent_and_stalls_nobody() => RunAgainstHungMount("hung-file");

    /// <summary>Runs control_stages STAGE DIR/data against a fresh daemon while hangfs serves DIR.</summary>
    private static void RunAgainstHungMount(string stage)
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        string hung = Path.Combine(emulator.Directory, "hung");
        Directory.CreateDirectory(hung);
        using BackgroundProcess server = BackgroundProcess.Start(Path.Combine(Repository.CTests, "hangfs"), [hung], new Dictionary<string, string?>());
        try
        {
            Assert.That(server.WaitForLine("# serving", Bound), Is.True, $"hangfs mounted: {server.Output}");
            using BackgroundProcess client = BackgroundProcess.Start(Path.Combine(Repository.CTests, "control_stages"),
                [stage, Path.Combine(hung, "data")], new Dictionary<string, string?> { ["LIVEUPDATE_DEVICE"] = emulator.Device });
            // Each stage checks 3 cases. The client itself may then wait in its
            // exit (closing its fd of hangfs's file sends FLUSH), so the summary
            // line is what counts, not the exit.
            bool passed = client.WaitForLine("3 passed, 0 failed", Bound);
            if (!passed)
                server.Kill(); // a daemon waiting for hangfs goes on once hangfs is gone
            Assert.That(passed, Is.True, $"the client was answered within {Bound.TotalSeconds} s, every case passing; output: {client.Output}");
            Assert.That(emulator.Status(), Is.Not.Null, "the daemon serves status.json");
        }
        finally
        {
            server.Kill();
            server.WaitForExit(Bound);
            HostDetach(hung); // the connection ended with its server
        }
    }

    private static void HostDetach(string directory) =>
        ProcessRunner.Run("umount", ["-l", directory], timeout: TimeSpan.FromSeconds(10));
}
