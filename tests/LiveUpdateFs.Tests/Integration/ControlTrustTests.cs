using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using LiveUpdateFs.Interop;

namespace LiveUpdateFs.Tests.Integration;

/// <summary>
/// `status`, `unmount` and `reboot` trust only a
/// liveupdatefs FUSE mount of root or of the caller, signal only that
/// mount's daemon (checked, through a pidfd), never start anything from
/// status.json, and never wait forever for a daemon that does not answer.
/// The hostile directory is what another user could prepare for root: a
/// status.json naming a process of root's and a mount command that would
/// chmod a system directory (--store) and write a file anywhere (--log-file).
/// </summary>
[TestFixture]
[NonParallelizable]
[Category("Integration")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed partial class ControlTrustTests
{
    /// <summary>Far above the commands' own 5 s wait for an answer, far below forever.</summary>
    private static readonly TimeSpan CommandBound = TimeSpan.FromSeconds(20);

    private const UnixFileMode Mode0755 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    [Test]
    [Description("a plain directory with a fake status.json naming a live process: status, unmount and reboot refuse, signal nothing and start nothing")]
    public void A_fake_status_json_in_a_plain_directory_is_refused_and_its_pid_is_not_signalled()
    {
        using var scene = HostileDirectory.Create();
        using Process sleeper = Process.Start(new ProcessStartInfo("/bin/sleep", "600") { UseShellExecute = false })!;
        try
        {
            scene.WriteStatus(sleeper.Id);

            foreach (string command in new[] { "unmount", "reboot", "status" })
            {
                ProcessResult result = Run(command, scene.Directory);
                Assert.That(MountedEmulator.IsAlive(sleeper.Id), Is.True, $"{command} did not signal the pid named by the fake status.json\n{result.Output}");
                scene.AssertUntouched(command);
                Assert.That(result.ExitCode, Is.EqualTo(1), $"{command} refuses a plain directory\n{result.Output}");
                Assert.That(result.Output, Does.Contain("nothing is mounted there"), $"{command} says why\n{result.Output}");
            }
        }
        finally
        {
            sleeper.Kill();
            sleeper.WaitForExit();
        }
    }

    [Test]
    [Description("a fake status.json whose control node leads to a real daemon and whose daemon pid has ended: reboot refuses before the freeze and never runs the file's mount arguments")]
    public void A_fake_status_json_never_gets_its_mount_arguments_run_by_reboot()
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        using var scene = HostileDirectory.Create();
        string bootBefore = Boot(emulator);
        using (Process gone = Process.Start(new ProcessStartInfo("/bin/true") { UseShellExecute = false })!)
        {
            gone.WaitForExit(); // reaped: "the daemon ended instead of restarting" is what the old reboot concluded
            scene.WriteStatus(gone.Id);
        }
        File.CreateSymbolicLink(Path.Combine(scene.Directory, ".lufs-control"), Path.Combine(emulator.Mountpoint, ".lufs-control"));

        ProcessResult reboot = Run("reboot", scene.Directory);

        scene.AssertUntouched("reboot");
        Assert.That(Boot(emulator), Is.EqualTo(bootBefore), $"the daemon behind the symlinked control node was not rebooted\n{reboot.Output}");
        Assert.That(reboot.ExitCode, Is.EqualTo(1), reboot.Output);
        Assert.That(reboot.Output, Does.Contain("nothing is mounted there"), reboot.Output);
    }

    [Test]
    [Description("a liveupdatefs mount of another user (nobody, through fusermount3): root's status, unmount and reboot refuse it and leave it mounted")]
    public void A_liveupdatefs_mount_of_another_user_is_refused_by_root()
    {
        using PublicArtifacts programs = PublicArtifacts.Copy();
        string dir = Directory.CreateTempSubdirectory("liveupdatefs-foreign-").FullName;
        string mnt = Path.Combine(dir, "mnt");
        UnixFileMode fuseMode = File.GetUnixFileMode("/dev/fuse");
        int daemon = 0;
        try
        {
            File.SetUnixFileMode("/dev/fuse", fuseMode | UnixFileMode.OtherRead | UnixFileMode.OtherWrite);
            NobodyUser.Chown(dir);
            ProcessResult mounted = NobodyUser.Run(dir, programs.Daemon, "mount", "--mountpoint", mnt, "--store", Path.Combine(dir, "store"));
            Assert.That(mounted.ExitCode, Is.Zero, mounted.Output);
            daemon = int.Parse(DaemonPidLine().Match(mounted.Output).Groups[1].Value);

            foreach (string command in new[] { "unmount", "reboot", "status" })
            {
                ProcessResult result = Run(command, mnt);
                Assert.That(MountedEmulator.IsAlive(daemon), Is.True, $"{command} did not stop nobody's daemon\n{result.Output}");
                Assert.That(IsMounted(mnt), Is.True, $"{command} left nobody's mount in place\n{result.Output}");
                Assert.That(result.ExitCode, Is.EqualTo(1), $"{command} refuses another user's mount\n{result.Output}");
                Assert.That(result.Output, Does.Contain($"uid {NobodyUser.Uid}"), $"{command} names the mount's owner\n{result.Output}");
            }
            ProcessResult own = NobodyUser.Run(dir, programs.Daemon, "status", "--mountpoint", mnt);
            Assert.That(own.ExitCode, Is.Zero, $"its owner still reads it\n{own.Output}");
        }
        finally
        {
            NobodyUser.Run(dir, programs.Daemon, "unmount", "--mountpoint", mnt);
            if (daemon > 0 && MountedEmulator.IsAlive(daemon))
                Signals.Kill(daemon);
            File.SetUnixFileMode("/dev/fuse", fuseMode);
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    [Description("a daemon that does not answer (SIGSTOP): status, unmount, reboot and run give up within a bound and say what to do")]
    public void A_stopped_daemon_makes_the_commands_fail_within_a_bound_and_say_what_to_do()
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        int pid = emulator.DaemonPid;
        using ProcessPin daemon = ProcessPin.Of(pid)!;
        Assert.That(daemon.Stop(), Is.EqualTo(LiveUpdateFs.Uapi.Errno.None));
        try
        {
            foreach (string command in new[] { "status", "unmount", "reboot" })
            {
                var clock = Stopwatch.StartNew();
                ProcessResult result = Run(command, emulator.Mountpoint);
                Assert.That(result.TimedOut, Is.False, $"{command} returned within {CommandBound.TotalSeconds} s");
                Assert.That(result.ExitCode, Is.EqualTo(1), result.Output);
                Assert.That(result.Output, Does.Contain("does not answer").And.Contain($"kill -9 {pid}").And.Contain("liveupdatefs unmount"),
                    $"{command} says which daemon does not answer and what to do\n{result.Output}");
                Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(15)), result.Output);
                Assert.That(MountedEmulator.IsAlive(pid), Is.True, $"{command} signalled nothing\n{result.Output}");
            }
            // run without --mountpoint finds the mount from the device path without looking the node up (a LOOKUP the stopped daemon never answers).
            string link = Path.Combine(emulator.Directory, "dev-liveupdate");
            File.CreateSymbolicLink(link, emulator.Device);
            var runClock = Stopwatch.StartNew();
            ProcessResult run = ProcessRunner.Run(Repository.Daemon, ["run", "--", "/bin/true"],
                new Dictionary<string, string?> { ["LIVEUPDATE_DEVICE"] = link, ["LUO_DEVICE"] = null }, CommandBound);
            Assert.That(run.TimedOut, Is.False, $"run returned within {CommandBound.TotalSeconds} s");
            Assert.That(run.ExitCode, Is.EqualTo(2), run.Output);
            Assert.That(run.Output, Does.Contain("does not answer").And.Contain($"kill -9 {pid}"), run.Output);
            Assert.That(runClock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(15)), run.Output);
        }
        finally
        {
            daemon.Continue();
        }
        Assert.That(emulator.Status(), Is.Not.Null, "the daemon serves again once continued");
    }

    private static ProcessResult Run(string command, string mountpoint) =>
        ProcessRunner.Run(Repository.Daemon, [command, "--mountpoint", mountpoint], timeout: CommandBound);

    private static string Boot(MountedEmulator emulator)
    {
        using JsonDocument status = emulator.Status()!;
        return status.RootElement.GetProperty("boot").GetString()!;
    }

    private static bool IsMounted(string path) =>
        File.ReadLines("/proc/self/mountinfo").Any(line => line.Split(' ')[4] == path);

    [GeneratedRegex(@"daemon pid (\d+)")]
    private static partial Regex DaemonPidLine();

    /// <summary>A directory another user (nobody) controls, with what a fake
    /// status.json would make root damage: a store directory to chmod 0700, a
    /// log file to create and a mountpoint to mount.</summary>
    private sealed class HostileDirectory : IDisposable
    {
        private readonly string _root;

        private HostileDirectory(string root) => _root = root;

        public string Directory => Path.Combine(_root, "hostile");
        private string VictimStore => Path.Combine(_root, "etc");
        private string VictimLog => Path.Combine(_root, "written-by-root.log");
        private string VictimMountpoint => Path.Combine(_root, "victim-mnt");

        public static HostileDirectory Create()
        {
            var scene = new HostileDirectory(System.IO.Directory.CreateTempSubdirectory("liveupdatefs-hostile-").FullName);
            System.IO.Directory.CreateDirectory(scene.Directory);
            NobodyUser.Chown(scene.Directory);
            System.IO.Directory.CreateDirectory(scene.VictimStore);
            File.SetUnixFileMode(scene.VictimStore, Mode0755);
            return scene;
        }

        public void WriteStatus(int daemonPid)
        {
            string path = Path.Combine(Directory, "status.json");
            var status = new JsonObject
            {
                ["daemonPid"] = daemonPid,
                ["boot"] = "",
                ["mountArguments"] = new JsonArray("mount", "--mountpoint", VictimMountpoint, "--store", VictimStore, "--log-file", VictimLog, "--link", "none"),
                ["supervised"] = false,
                ["deviceOpen"] = false,
                ["deviceHolders"] = new JsonArray(),
                ["frozen"] = false,
                ["reboot"] = "serving",
                ["incomingLoaded"] = true,
                ["sessions"] = new JsonArray(),
            };
            File.WriteAllText(path, status.ToJsonString());
            NobodyUser.Chown(path);
        }

        public void AssertUntouched(string command)
        {
            Assert.That(File.GetUnixFileMode(VictimStore), Is.EqualTo(Mode0755), $"{command} did not chmod the --store of the fake status.json");
            Assert.That(File.Exists(VictimLog), Is.False, $"{command} did not write the --log-file of the fake status.json");
            Assert.That(IsMounted(VictimMountpoint), Is.False, $"{command} did not mount the --mountpoint of the fake status.json");
        }

        public void Dispose()
        {
            if (IsMounted(VictimMountpoint)) // a daemon the old reboot started from the fake mount arguments
                ProcessRunner.Run(Repository.Daemon, ["unmount", "--mountpoint", VictimMountpoint], timeout: CommandBound);
            System.IO.Directory.Delete(_root, recursive: true);
        }
    }
}
