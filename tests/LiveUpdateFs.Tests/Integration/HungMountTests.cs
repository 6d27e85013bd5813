namespace LiveUpdateFs.Tests.Integration;

/// <summary>
/// A caller cannot stall the daemon through a FUSE mount whose
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
    public void A_struct_in_a_mapping_of_a_hung_mount_is_EFAULT_and_stalls_nobody() => RunAgainstHungMount("mapped-arg");

    [Test]
    [Description("The same with a FUSE file whose inode number is 0, as anonymous memory's: only device 0:0 with inode 0 counts as anonymous")]
    public void A_struct_in_a_mapping_of_a_hung_file_with_inode_0_is_EFAULT_too()
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        RunAgainstHungMount("mapped-arg", emulator, ["--inode0"], _ => true);
    }

    [Test]
    [Description("PRESERVE_FD of a file of a hung FUSE mount (its server busy for good): ENOENT at once; the daemon neither stats nor flushes it on its thread")]
    public void Preserving_a_file_of_a_hung_mount_is_ENOENT_and_stalls_nobody() => RunAgainstHungMount("hung-file");

    [Test]
    [Description("Linux reuses mount ids. A tmpfs file is preserved (the daemon learns its mount), the tmpfs is unmounted and hangfs (FOPEN_NOFLUSH, so only a stat or statfs could reach it) gets the same mount id: PRESERVE_FD of its file while hangfs is stuck is ENOENT at once. A daemon that cached mount id -> fstype took it for tmpfs and sent STATFS to the stuck server")]
    public void A_reused_mount_id_is_not_taken_for_the_tmpfs_that_had_it()
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        string tmpfs = Path.Combine(emulator.Directory, "tmpfs");
        Directory.CreateDirectory(tmpfs);
        try
        {
            ReuseAndPreserve(emulator, tmpfs);
        }
        finally
        {
            if (MountIdOf(tmpfs) >= 0)
                HostDetach(tmpfs);
        }
    }

    private static void ReuseAndPreserve(MountedEmulator emulator, string tmpfs)
    {
        for (int attempt = 1; ; attempt++)
        {
            Assert.That(ProcessRunner.Run("mount", ["-t", "tmpfs", "lufs-reused-id", tmpfs], timeout: Bound).ExitCode, Is.Zero, "mount the tmpfs");
            int tmpfsId = MountIdOf(tmpfs);
            ProcessResult preserved = emulator.RunCTest("control_stages", ClientMode.NoLibrary, ["tmpfile", tmpfs], timeout: Bound);
            Tap.AssertAllPassed(preserved, "control_stages tmpfile", emulator);
            Unmount(tmpfs); // the daemon closes the file at the session's release
            bool reused = false;
            RunAgainstHungMount("hung-file", emulator, ["--noflush"], hangfsId =>
            {
                TestContext.Out.WriteLine($"attempt {attempt}: tmpfs had mount id {tmpfsId}, hangfs has {hangfsId}");
                reused = hangfsId == tmpfsId;
                return reused || attempt == 3;
            });
            if (reused)
                return;
            if (attempt == 3)
                Assert.Inconclusive("hangfs never got the unmounted tmpfs's mount id in 3 attempts (other mounts came and went meanwhile)");
        }
    }

    /// <summary>Runs control_stages STAGE DIR/data against a fresh daemon while hangfs serves DIR.</summary>
    private static void RunAgainstHungMount(string stage)
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        RunAgainstHungMount(stage, emulator, [], _ => true);
    }

    /// <summary>Runs control_stages STAGE DIR/data against <paramref name="emulator"/> while
    /// hangfs OPTIONS serves DIR, if <paramref name="proceed"/> (given hangfs's mount id) says so.</summary>
    private static void RunAgainstHungMount(string stage, MountedEmulator emulator, string[] options, Func<int, bool> proceed)
    {
        string hung = Path.Combine(emulator.Directory, "hung");
        Directory.CreateDirectory(hung);
        using BackgroundProcess server = BackgroundProcess.Start(Path.Combine(Repository.CTests, "hangfs"), [.. options, hung], new Dictionary<string, string?>());
        try
        {
            Assert.That(server.WaitForLine("# serving", Bound), Is.True, $"hangfs mounted: {server.Output}");
            if (!proceed(MountIdOf(hung)))
                return;
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

    /// <summary>A plain umount, retried while the mount is busy (the daemon closes a
    /// released session's files when it handles the RELEASE, after the client's close).</summary>
    private static void Unmount(string directory)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (ProcessRunner.Run("umount", [directory], timeout: Bound).ExitCode != 0)
        {
            Assert.That(clock.Elapsed, Is.LessThan(Bound), $"umount {directory}");
            Thread.Sleep(50);
        }
    }

    /// <summary>The id of the mount at <paramref name="mountpoint"/> (the last one there) in /proc/self/mountinfo.</summary>
    private static int MountIdOf(string mountpoint) =>
        File.ReadLines("/proc/self/mountinfo").Select(l => l.Split(' ')).Where(f => f.Length > 4 && f[4] == mountpoint)
            .Select(f => int.Parse(f[0])).LastOrDefault(-1);
}
