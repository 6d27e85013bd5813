using System.CommandLine;
using LiveUpdateFs.Host.Daemon;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Interop.Seccomp;

namespace LiveUpdateFs.Host.Commands;

/// <summary>The liveupdatefs command line (docs/design.md §10.2).</summary>
public static class Cli
{
    /// <summary>A mountpoint as the kernel names it (symlinks resolved): the
    /// reboot finds fd holders by the paths /proc shows.</summary>
    private static string MountpointPath(string path) => FileOps.RealPath(path) ?? Path.GetFullPath(path);

    public static RootCommand Build()
    {
        var mountpoint = new Option<string>("--mountpoint", "-m")
        {
            Description = "Directory the emulator is mounted on; the device node is DIR/liveupdate",
            DefaultValueFactory = _ => Defaults.Mountpoint,
        };
        var store = new Option<string>("--store", "-s")
        {
            Description = "Directory of the persistence store (private, one daemon per store)",
            DefaultValueFactory = _ => Defaults.Store,
        };
        var link = new Option<string?>("--link")
        {
            Description = $"Create a symlink to the device node there (default {Defaults.Link} when root; 'none' for no link)",
        };
        var foreground = new Option<bool>("--foreground", "-f") { Description = "Serve in this process until Ctrl-C or SIGTERM" };
        var logLevel = new Option<string>("--log-level")
        {
            Description = "verbose, debug (every request), information, warning or error",
            DefaultValueFactory = _ => "information",
        };
        logLevel.AcceptOnlyFromAmong("verbose", "debug", "information", "warning", "error");
        var logFormat = new Option<string>("--log-format")
        {
            Description = "text (one readable line per event) or json (one JSON object per line)",
            DefaultValueFactory = _ => "text",
        };
        logFormat.AcceptOnlyFromAmong(LogSettings.Formats);
        var logFile = new Option<string?>("--log-file")
        {
            Description = $"Write the log there (default: STORE/{Defaults.LogFileName} for a background daemon, stderr in the foreground)",
        };
        var getNameSize16 = new Option<bool>("--getname-size16")
        {
            Description = "Behave like the v7.2 merge result before [GN-fix]: GET_NAME accepts 16..71-byte structs (docs/behaviour.md §4.6)",
        };
        var finishChecksReserved = new Option<bool>("--finish-checks-reserved")
        {
            Description = "Apply [FIN-fix]: FINISH with a non-zero reserved field fails with EINVAL (docs/behaviour.md §2.3)",
        };
        var deviceMode = new Option<string?>("--device-mode")
        {
            Description = "Permission bits of the device node (and the session nodes): 0600 (default: the daemon's user only, as the kernel's), 0640 or 0660",
        };
        var deviceGroup = new Option<string?>("--device-group")
        {
            Description = "Group of the device node (a name or a gid), for --device-mode 0660; default: the daemon's group",
        };
        var freezeTimeout = new Option<int>("--freeze-timeout")
        {
            Description = "Seconds a reboot's freeze waits for its restart request before it is called off and the boot serves again (1-3600)",
            DefaultValueFactory = _ => MountOptions.DefaultFreezeTimeoutSeconds,
        };
        freezeTimeout.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() is < 1 or > 3600)
                result.AddError("--freeze-timeout takes 1 to 3600 seconds");
        });
        var json = new Option<bool>("--json") { Description = "Print the status as JSON" };
        var keepProcesses = new Option<bool>("--keep-processes")
        {
            Description = "Do not end the processes that hold emulator fds (a real kexec ends every process)",
        };
        var durable = new Option<bool>("--durable")
        {
            Description = "Copy the preserved memfds into the store (survives a killed daemon) instead of keeping them open across an exec of the daemon (the default: zero-copy, like the kernel)",
        };
        var expectBoot = new Option<string?>("--expect-boot")
        {
            Description = "Reboot only this boot (the \"boot\" of status --json); refused with ESTALE, changing nothing, when another reboot came first. For scripts that retry",
        };
        var program = new Argument<string[]>("program") { Description = "The program and its arguments", Arity = ArgumentArity.OneOrMore };

        var mount = new Command("mount", "Mount the emulated /dev/liveupdate and serve it (returns once the node is usable)")
        {
            mountpoint, store, link, foreground, logLevel, logFormat, logFile, getNameSize16, finishChecksReserved, deviceMode, deviceGroup, freezeTimeout,
        };
        mount.SetAction(r => new MountCommand(new MountOptions(
            MountpointPath(r.GetValue(mountpoint)!),
            Path.GetFullPath(r.GetValue(store)!),
            r.GetValue(link),
            r.GetValue(foreground),
            new LogSettings(r.GetValue(logLevel)!, r.GetValue(logFormat)!, r.GetValue(logFile) is { } file ? Path.GetFullPath(file) : null),
            GetNameFix: !r.GetValue(getNameSize16),
            FinishChecksReserved: r.GetValue(finishChecksReserved),
            DeviceMode: r.GetValue(deviceMode),
            DeviceGroup: r.GetValue(deviceGroup),
            FreezeTimeoutSeconds: r.GetValue(freezeTimeout))).Run());

        var unmount = new Command("unmount", "Stop the daemon serving DIR and unmount it; its open outgoing sessions are handed over to the next start (like docker stop)") { mountpoint };
        unmount.SetAction(r => UnmountCommand.Run(MountpointPath(r.GetValue(mountpoint)!)));

        var reboot = new Command("reboot",
            "Live update: freeze the outgoing sessions, end the processes holding emulator fds, restart the daemon into the next boot "
            + "(in place, memfds kept open; or --durable, through the store); returns once the new boot serves RETRIEVE_SESSION")
        {
            mountpoint, keepProcesses, durable, expectBoot,
        };
        reboot.SetAction(r => new RebootCommand(MountpointPath(r.GetValue(mountpoint)!), r.GetValue(keepProcesses), r.GetValue(durable),
            r.GetValue(expectBoot)).Run());

        var status = new Command("status", "Show sessions, files and state") { mountpoint, json };
        status.SetAction(r => StatusCommand.Run(MountpointPath(r.GetValue(mountpoint)!), r.GetValue(json)));

        var preload = new Option<bool>("--preload")
        {
            Description = "Serve the program's fd requests through the preload library (LD_PRELOAD; dynamically linked programs only) instead of a seccomp filter",
        };
        var fdRequestsOnly = new Option<bool>("--only-fd-requests")
        {
            Description = "Trap only CREATE_SESSION, RETRIEVE_SESSION and RETRIEVE_FD: ftruncate/fallocate and FIONREAD/FIOQSIZE run untrapped "
                + "(full speed for programs that make many of them; frozen memfds can then be resized, unlike the kernel)",
        };
        var noIoctlTraps = new Option<bool>("--no-ioctl-traps")
        {
            Description = "Leave FIONREAD/FIOQSIZE untrapped (the VFS answers them on LUO fds, unlike the kernel): for programs that call FIONREAD "
                + "often on sockets or pipes; ftruncate/fallocate stay trapped",
        };
        // No default: without it, run serves the mount the program's device path resolves to.
        var runMountpoint = new Option<string?>("--mountpoint", "-m")
        {
            Description = $"Directory the emulator is mounted on (default: the mount that $LIVEUPDATE_DEVICE, $LUO_DEVICE or {Defaults.Link} resolves to; "
                + "without either, the default mountpoint)",
        };
        var run = new Command("run",
            "Run a program (like umockdev-run) so that its fd-returning requests are served: by default through a seccomp filter inherited by the "
            + "whole process tree (any binary: static, Go, raw syscalls); liveupdatefs run -- PROGRAM ARGS")
        {
            runMountpoint, preload, fdRequestsOnly, noIoctlTraps, program,
        };
        run.SetAction(r =>
        {
            string? problem = null;
            string? served = r.GetValue(runMountpoint) is { } named ? MountpointPath(named) : DeviceMountpoint.Find(out problem);
            if (served is null)
                return RunCommand.Fail(problem!, RunCommand.Unusable);
            return new RunCommand(served, r.GetValue(preload),
                r.GetValue(fdRequestsOnly) ? TrapExtras.None : r.GetValue(noIoctlTraps) ? TrapExtras.SizeChanges : TrapExtras.All,
                r.GetValue(program)!).Run();
        });

        return new RootCommand("LiveUpdateFs: the Linux Live Update Orchestrator (/dev/liveupdate) emulated through FUSE")
        {
            mount, unmount, reboot, status, run,
        };
    }
}
