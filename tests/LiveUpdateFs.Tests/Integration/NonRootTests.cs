
namespace LiveUpdateFs.Tests.Integration;

/// <summary>
/// Without root: an ordinary user mounts through fusermount3, runs
/// the live update as that user, and only that user's programs reach the node.
/// Runs as user 65534 (nobody) through setpriv.
/// </summary>
[TestFixture]
[NonParallelizable]
[Category("Integration")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class NonRootTests
{
    [Test]
    public void An_ordinary_user_mounts_reboots_and_retrieves_and_other_users_are_kept_out()
    {
        using PublicArtifacts programs = PublicArtifacts.Copy();
        string dir = Directory.CreateTempSubdirectory("liveupdatefs-nonroot-").FullName;
        UnixFileMode fuseMode = File.GetUnixFileMode("/dev/fuse");
        try
        {
            // A dev box's /dev/fuse is 0666 (udev); some containers make it 0600.
            File.SetUnixFileMode("/dev/fuse", fuseMode | UnixFileMode.OtherRead | UnixFileMode.OtherWrite);
            NobodyUser.Chown(dir);
            string mnt = Path.Combine(dir, "mnt");

            ProcessResult mounted = NobodyUser.Run(dir, programs.Daemon, "mount", "--mountpoint", mnt, "--store", Path.Combine(dir, "store"));
            Assert.That(mounted.ExitCode, Is.Zero, mounted.Output);
            Assert.That(mounted.Output, Does.Not.Contain("(link"), "no /dev/liveupdate link without root");

            ProcessResult stage = NobodyUser.Run(dir, programs.Daemon, "run", "--mountpoint", mnt, "--", programs.CTest("reboot_stages"), "crash-old");
            Assert.That(stage.Output, Does.Contain("6 passed, 0 failed"), stage.Output);
            ProcessResult reboot = NobodyUser.Run(dir, programs.Daemon, "reboot", "--mountpoint", mnt);
            Assert.That(reboot.ExitCode, Is.Zero, reboot.Output);
            Assert.That(reboot.Output, Does.Contain("ended 1 processes"));

            ProcessResult check = NobodyUser.Run(dir, programs.Daemon, "run", "--mountpoint", mnt, "--", programs.CTest("reboot_stages"), "crash-check");
            Assert.That(check.Output, Does.Contain("# state old").And.Contain("16 passed, 0 failed"), check.Output);

            ProcessResult other = ProcessRunner.Run(Path.Combine(Repository.CTests, "reboot_stages"), ["crash-check"],
                new Dictionary<string, string?> { ["LIVEUPDATE_DEVICE"] = Path.Combine(mnt, "liveupdate") });
            Assert.That(other.Output, Does.Contain("errno 13 (EACCES)"), "another user (even root) cannot open the node of a mount without allow_other");

            ProcessResult stopped = NobodyUser.Run(dir, programs.Daemon, "unmount", "--mountpoint", mnt);
            Assert.That(stopped.ExitCode, Is.Zero, stopped.Output);
        }
        finally
        {
            File.SetUnixFileMode("/dev/fuse", fuseMode);
            Directory.Delete(dir, recursive: true);
        }
    }
}
