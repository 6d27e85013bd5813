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
    public void A_struct_in_a_mapping_of_a_hung_mount_is_efault_and_stalls_nobody()
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        string hung = Path.Combine(emulator.Directory, "hung");
        Directory.CreateDirectory(hung);
        using BackgroundProcess server = BackgroundProcess.Start(Path.Combine(Repository.CTests, "hangfs"), [hung], new Dictionary<string, string?>());
        try
        {
            Assert.That(server.WaitForLine("# serving", Bound), Is.True, $"hangfs mounted: {server.Output}");
            using BackgroundProcess client = BackgroundProcess.Start(Path.Combine(Repository.CTests, "control_stages"),
                ["mapped-arg", Path.Combine(hung, "data")], new Dictionary<string, string?> { ["LIVEUPDATE_DEVICE"] = emulator.Device });
            ProcessResult result = client.WaitForExit(Bound);
            if (result.TimedOut)
            {
                // The daemon waits for hangfs inside the fault: ending hangfs lets everyone go on.
                server.Kill();
                Assert.Fail($"the client was not answered within {Bound.TotalSeconds} s: the daemon waited on the hung mount. Output: {result.Output}");
            }
            Assert.That(result.ExitCode, Is.Zero, result.Output);
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
