using System.Text.RegularExpressions;

namespace LiveUpdateFs.Tests.Integration;

/// <summary>
/// Who may open the device: root only by default, as the
/// kernel's misc device; --device-mode/--device-group let one group in, never
/// anyone else. The programs run as 65534 (nobody/nogroup) and 65533 through setpriv.
/// </summary>
[TestFixture]
[NonParallelizable]
[Category("Integration")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed partial class NodeAccessTests
{
    private const int Member = 65534;
    private const int Stranger = 65533;

    [Test]
    public void By_default_only_the_daemons_user_opens_the_device()
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        using PublicArtifacts programs = PublicArtifacts.Copy();
        Reachable(emulator);

        Assert.That(File.GetUnixFileMode(emulator.Device), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
        ProcessResult member = RunAs(Member, emulator, programs, "crash-check");
        Assert.That(member.Output, Does.Contain("errno 13 (EACCES)"), member.Output);
    }

    [Test]
    public void A_device_group_gets_in_with_its_sessions_and_others_stay_out()
    {
        using MountedEmulator emulator = MountedEmulator.Create();
        using PublicArtifacts programs = PublicArtifacts.Copy();
        ProcessResult mounted = emulator.Cli(["mount", "--mountpoint", emulator.Mountpoint, "--store", emulator.Store, "--link", "none",
            "--device-mode", "0660", "--device-group", $"{Member}"]);
        Assert.That(mounted.ExitCode, Is.Zero, mounted.Output);
        Reachable(emulator);
        Assert.That(File.GetUnixFileMode(emulator.Device), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite));

        // crash-old creates sessions (their nodes are opened by the member) and preserves memfds.
        ProcessResult member = RunAs(Member, emulator, programs, "crash-old");
        Assert.That(member.Output, Does.Contain("6 passed, 0 failed"), member.Output);
        Match holder = HolderLine().Match(member.Output);
        Assert.That(holder.Success, Is.True, member.Output);
        ProcessRunner.Run("/bin/kill", ["-9", holder.Groups[1].Value]);

        ProcessResult stranger = RunAs(Stranger, emulator, programs, "crash-check");
        Assert.That(stranger.Output, Does.Contain("errno 13 (EACCES)"), stranger.Output);
    }

    [Test]
    [Description("with --device-mode 0640 a group member opens the device read-only, and CREATE_SESSION, PRESERVE_FD, RETRIEVE_SESSION, RETRIEVE_FD and FINISH work through that fd (the library opens the session node with the device fd's access mode); O_RDWR stays refused")]
    public void A_read_only_device_group_creates_preserves_and_retrieves()
    {
        using MountedEmulator emulator = MountedEmulator.Create();
        using PublicArtifacts programs = PublicArtifacts.Copy();
        ProcessResult mounted = emulator.Cli(["mount", "--mountpoint", emulator.Mountpoint, "--store", emulator.Store, "--link", "none",
            "--device-mode", "0640", "--device-group", $"{Member}"]);
        Assert.That(mounted.ExitCode, Is.Zero, mounted.Output);
        Reachable(emulator);
        Assert.That(File.GetUnixFileMode(emulator.Device), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead));

        ProcessResult readWrite = RunAs(Member, emulator, programs, "crash-check");
        Assert.That(readWrite.Output, Does.Contain("errno 13 (EACCES)"), "0640: the group may not open the device for writing\n" + readWrite.Output);

        // Two sessions with three memfds, created and preserved through a read-only device fd; a holder keeps them.
        ProcessResult created = RunAs(Member, emulator, programs, "readonly-old");
        Assert.That(created.Output, Does.Contain("8 passed, 0 failed"), created.Output + emulator.LogTail());
        Assert.That(HolderLine().Match(created.Output).Success, Is.True, created.Output);

        ProcessResult reboot = emulator.Reboot();
        Assert.That(reboot.ExitCode, Is.Zero, reboot.Output + emulator.LogTail());

        ProcessResult retrieved = RunAs(Member, emulator, programs, "readonly-check");
        Assert.That(retrieved.Output, Does.Contain("# state old").And.Contain("16 passed, 0 failed"), retrieved.Output + emulator.LogTail());
    }

    [TestCase("0666", "other users get nothing")]
    [TestCase("0700", "other users get nothing")]
    [TestCase("0400", "other users get nothing")]
    [TestCase("rw", "not an octal mode")]
    public void Unsafe_or_unreadable_modes_are_refused(string mode, string message)
    {
        using MountedEmulator emulator = MountedEmulator.Create();
        ProcessResult mounted = emulator.Cli(["mount", "--mountpoint", emulator.Mountpoint, "--store", emulator.Store, "--link", "none", "--device-mode", mode]);
        Assert.That(mounted.ExitCode, Is.EqualTo(2), mounted.Output);
        Assert.That(mounted.Output, Does.Contain(message));
    }

    [Test]
    public void An_unknown_group_is_refused()
    {
        using MountedEmulator emulator = MountedEmulator.Create();
        ProcessResult mounted = emulator.Cli(["mount", "--mountpoint", emulator.Mountpoint, "--store", emulator.Store, "--link", "none",
            "--device-mode", "0660", "--device-group", "no-such-group-lufs"]);
        Assert.That(mounted.ExitCode, Is.EqualTo(2), mounted.Output);
        Assert.That(mounted.Output, Does.Contain("neither a group name nor a numeric gid"));
    }

    /// <summary>The emulator's private temp directory opened for traversal:
    /// what stops other users must be the node's own mode.</summary>
    private static void Reachable(MountedEmulator emulator) =>
        File.SetUnixFileMode(emulator.Directory, File.GetUnixFileMode(emulator.Directory) | UnixFileMode.OtherExecute | UnixFileMode.GroupExecute);

    /// <summary>reboot_stages STAGE as uid = gid = <paramref name="id"/>, with the preload library,
    /// both from a copy that uid can execute wherever the checkout is.</summary>
    private static ProcessResult RunAs(int id, MountedEmulator emulator, PublicArtifacts programs, string stage) =>
        ProcessRunner.Run("/usr/bin/setpriv",
            ["--reuid", $"{id}", "--regid", $"{id}", "--clear-groups", "/usr/bin/env",
             $"LD_PRELOAD={programs.PreloadLibrary}", $"LIVEUPDATEFS_MOUNTPOINT={emulator.Mountpoint}", $"LIVEUPDATE_DEVICE={emulator.Device}",
             programs.CTest("reboot_stages"), stage],
            timeout: TimeSpan.FromSeconds(60));

    [GeneratedRegex(@"^# holder pid (\d+)$", RegexOptions.Multiline)]
    private static partial Regex HolderLine();
}
