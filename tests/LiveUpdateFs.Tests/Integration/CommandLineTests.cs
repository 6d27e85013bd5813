namespace LiveUpdateFs.Tests.Integration;

/// <summary>The command contract (docs/design.md §10.2): mount, status, run, unmount.</summary>
[TestFixture]
[NonParallelizable]
[Category("Integration")]
public sealed class CommandLineTests
{
    [Test]
    public void Mount_serves_the_node_status_shows_sessions_and_unmount_stops_the_daemon()
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        Assert.That(File.Exists(emulator.Device), Is.True, "the device node exists after mount returns");

        ProcessResult second = emulator.Cli(["mount", "--mountpoint", emulator.Mountpoint, "--store", emulator.Store, "--link", "none"]);
        Assert.That(second.ExitCode, Is.Not.Zero, "a second daemon on the same mountpoint is refused");
        Assert.That(second.Output, Does.Contain("unmount"), "the refusal says how to stop the first one");

        ProcessResult table = emulator.Cli(["status", "--mountpoint", emulator.Mountpoint]);
        Assert.That(table.ExitCode, Is.Zero, table.Output);
        Assert.That(table.Output, Does.Contain("SESSION"));

        ProcessResult stopped = emulator.Cli(["unmount", "--mountpoint", emulator.Mountpoint]);
        Assert.That(stopped.ExitCode, Is.Zero, stopped.Output);
        Assert.That(File.Exists(emulator.Device), Is.False, "the node is gone after unmount");
        ProcessResult after = emulator.Cli(["status", "--mountpoint", emulator.Mountpoint]);
        Assert.That(after.ExitCode, Is.Not.Zero, "status reports that no daemon serves the mountpoint");
    }

    [Test]
    public void Mount_with_link_creates_and_removes_the_symlink()
    {
        string dir = Directory.CreateTempSubdirectory("liveupdatefs-link-").FullName;
        string link = Path.Combine(dir, "liveupdate-link");
        using MountedEmulator emulator = MountedEmulator.Start(link);
        Assert.That(new FileInfo(link).LinkTarget, Is.EqualTo(emulator.Device));
        emulator.Cli(["unmount", "--mountpoint", emulator.Mountpoint]);
        Assert.That(new FileInfo(link).LinkTarget, Is.Null, "the link is removed on a clean stop");
        Directory.Delete(dir, recursive: true);
    }

    [Test]
    public void A_second_daemon_on_the_same_store_is_refused_with_a_clear_message()
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        string other = Path.Combine(emulator.Directory, "other-mnt");

        ProcessResult second = emulator.Cli(["mount", "--mountpoint", other, "--store", emulator.Store, "--link", "none"]);

        Assert.That(second.ExitCode, Is.Not.Zero, second.Output);
        Assert.That(second.Output, Does.Contain("is locked by another liveupdatefs daemon"));
        Assert.That(emulator.Status(), Is.Not.Null, "the first daemon still serves");
    }

    [Test]
    public void Json_log_file_has_one_object_per_event_with_the_callers_pid_and_the_decoded_struct()
    {
        using MountedEmulator emulator = MountedEmulator.Create();
        string log = Path.Combine(emulator.Directory, "daemon.json");
        ProcessResult mounted = emulator.Cli(["mount", "--mountpoint", emulator.Mountpoint, "--store", emulator.Store, "--link", "none",
            "--log-level", "debug", "--log-format", "json", "--log-file", log]);
        Assert.That(mounted.ExitCode, Is.Zero, mounted.Output);
        emulator.RunStage("crash-old");
        emulator.Cli(["unmount", "--mountpoint", emulator.Mountpoint]);

        var events = File.ReadAllLines(log).Select(line => System.Text.Json.JsonDocument.Parse(line).RootElement).ToList();
        var preserve = events.First(e => e.TryGetProperty("Request", out var r) && r.GetString() == "PRESERVE_FD" && e.GetProperty("@m").GetString()!.Contains("token=0x1"));
        Assert.That(preserve.GetProperty("Pid").GetInt32(), Is.Positive);
        Assert.That(preserve.GetProperty("@m").GetString(), Does.Contain("on session old-a {size=16, fd="));
        if (OperatingSystem.IsLinux())
            Assert.That(File.GetUnixFileMode(log), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
    }

    [Test]
    public void Unknown_log_format_is_refused_with_the_choices()
    {
        ProcessResult result = ProcessRunner.Run(Repository.Daemon, ["mount", "--log-format", "xml"]);

        Assert.That(result.ExitCode, Is.EqualTo(2), "a command line that cannot be used is exit status 2");
        Assert.That(result.Output, Does.Contain("text").And.Contain("json"));
    }

    [Test]
    public void Status_names_the_processes_that_hold_session_fds()
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        int holder = emulator.RunStage("crash-old");

        using (System.Text.Json.JsonDocument daemon = emulator.Status()!)
            Assert.That(daemon.RootElement.GetProperty("sessions").EnumerateArray().Select(s => s.GetProperty("node").GetString()),
                Is.All.StartsWith(".lufs-session-"), "status.json names each open session's node, by which `status` finds its holders");
        // The command finds the holders itself: scanning /proc is no job for the daemon's one FUSE thread.
        ProcessResult json = emulator.Cli(["status", "--mountpoint", emulator.Mountpoint, "--json"]);
        Assert.That(json.ExitCode, Is.Zero, json.Output);
        using System.Text.Json.JsonDocument status = System.Text.Json.JsonDocument.Parse(json.Output);
        var sessions = status.RootElement.GetProperty("sessions").EnumerateArray().ToList();
        Assert.That(sessions, Has.Count.EqualTo(2), json.Output);
        Assert.That(status.RootElement.GetProperty("holdersComplete").GetBoolean(), Is.True, json.Output);
        Assert.That(sessions.Select(s => s.GetProperty("holders").EnumerateArray().Select(p => p.GetInt32()).ToList()),
            Is.All.EqualTo(new[] { holder }), "both sessions are held by the stage's holder");
        ProcessResult table = emulator.Cli(["status", "--mountpoint", emulator.Mountpoint]);
        Assert.That(table.Output, Does.Contain("HOLDERS").And.Contain($" {holder} "));
    }

    [Test]
    public void Reboot_without_a_daemon_fails_and_says_how_to_start_one()
    {
        string dir = Directory.CreateTempSubdirectory("liveupdatefs-none-").FullName;
        ProcessResult reboot = ProcessRunner.Run(Repository.Daemon, ["reboot", "--mountpoint", dir]);
        Directory.Delete(dir);

        Assert.That(reboot.ExitCode, Is.EqualTo(1), reboot.Output);
        Assert.That(reboot.Output, Does.Contain("no daemon serves").And.Contain("liveupdatefs mount"));
    }

    [Test]
    public void Reboot_help_names_its_options()
    {
        ProcessResult help = ProcessRunner.Run(Repository.Daemon, ["reboot", "--help"]);

        Assert.That(help.ExitCode, Is.Zero, help.Output);
        Assert.That(help.Output, Does.Contain("--mountpoint").And.Contain("--keep-processes"));
    }

    [Test]
    public void Run_with_preload_sets_up_the_preload_library_for_the_program()
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        ProcessResult env = emulator.Cli(["run", "--mountpoint", emulator.Mountpoint, "--preload", "--", "/usr/bin/env"]);
        Assert.That(env.ExitCode, Is.Zero, env.Output);
        Assert.That(env.Output, Does.Contain($"LD_PRELOAD={Repository.PreloadLibrary}"));
        Assert.That(env.Output, Does.Contain($"LIVEUPDATEFS_MOUNTPOINT={emulator.Mountpoint}"));
        Assert.That(env.Output, Does.Not.Contain("LIVEUPDATEFS_SECCOMP="));
    }

    [Test]
    [Description("run's default is the seccomp filter: no library, the tree marked as served by this mount, the program exec'd in place (its exit status)")]
    public void Run_serves_the_program_through_seccomp_by_default()
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        ProcessResult env = emulator.Cli(["run", "--mountpoint", emulator.Mountpoint, "--", "/usr/bin/env"]);
        Assert.That(env.ExitCode, Is.Zero, env.Output);
        Assert.That(env.Output, Does.Contain($"LIVEUPDATEFS_SECCOMP={emulator.Mountpoint}"));
        Assert.That(env.Output, Does.Not.Contain("LD_PRELOAD="));
        ProcessResult status = emulator.Cli(["run", "--mountpoint", emulator.Mountpoint, "--", "/bin/sh", "-c", "grep -q '^Seccomp:.*2' /proc/self/status && exit 7"]);
        Assert.That(status.ExitCode, Is.EqualTo(7), "the program runs under a seccomp filter and its exit status is run's: " + status.Output);
        Assert.That(emulator.LogTail(), Does.Contain("Serving the seccomp listener"));
    }

    [Test]
    [Description("run without --mountpoint serves the mount the program's device path resolves to (docs/seccomp.md), through either variable and a symlink, in both modes")]
    public void Run_without_mountpoint_serves_the_mount_the_device_path_resolves_to()
    {
        using MountedEmulator emulator = MountedEmulator.Start();
        string link = Path.Combine(emulator.Directory, "dev-liveupdate");
        File.CreateSymbolicLink(link, emulator.Device);

        ProcessResult trapped = emulator.Cli(["run", "--", "/usr/bin/env"], new Dictionary<string, string?> { ["LIVEUPDATE_DEVICE"] = link, ["LUO_DEVICE"] = null });
        Assert.That(trapped.ExitCode, Is.Zero, trapped.Output);
        Assert.That(trapped.Output, Does.Contain($"LIVEUPDATEFS_SECCOMP={emulator.Mountpoint}"));

        ProcessResult preloaded = emulator.Cli(["run", "--preload", "--", "/usr/bin/env"], new Dictionary<string, string?> { ["LIVEUPDATE_DEVICE"] = null, ["LUO_DEVICE"] = link });
        Assert.That(preloaded.ExitCode, Is.Zero, preloaded.Output);
        Assert.That(preloaded.Output, Does.Contain($"LIVEUPDATEFS_MOUNTPOINT={emulator.Mountpoint}"));
    }

    [Test]
    [Description("run without --mountpoint says clearly that no daemon serves the device path: another file, a dangling link, a missing path named by the variable")]
    public void Run_without_mountpoint_says_when_no_daemon_serves_the_device_path()
    {
        string dir = Directory.CreateTempSubdirectory("liveupdatefs-nodev-").FullName;
        try
        {
            string dangling = Path.Combine(dir, "dangling");
            File.CreateSymbolicLink(dangling, Path.Combine(dir, "gone", "liveupdate"));
            foreach ((string device, string says) in new[]
            {
                ("/dev/null", "which no liveupdatefs daemon serves"),
                (dangling, "is a dangling link"),
                (Path.Combine(dir, "missing"), "which does not exist"),
            })
            {
                ProcessResult result = ProcessRunner.Run(Repository.Daemon, ["run", "--", "/bin/true"],
                    new Dictionary<string, string?> { ["LIVEUPDATE_DEVICE"] = device, ["LUO_DEVICE"] = null });
                Assert.That(result.ExitCode, Is.EqualTo(2), $"{device}: {result.Output}");
                Assert.That(result.Output, Does.Contain(says).And.Contain("--mountpoint"), device);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
