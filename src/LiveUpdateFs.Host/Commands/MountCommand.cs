using System.Diagnostics;
using LiveUpdateFs.Fuse;
using LiveUpdateFs.Host.Daemon;
using LiveUpdateFs.Interop;

namespace LiveUpdateFs.Host.Commands;

/// <summary>`liveupdatefs mount`: checks, then serves in the foreground, or
/// starts a detached daemon and returns once its node is usable.</summary>
public sealed class MountCommand(MountOptions options)
{

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);

    public int Run()
    {
        NodeAccess? access = options.Access(out string? problem);
        if (access is null || !Preflight(out problem))
        {
            Console.Error.WriteLine($"liveupdatefs mount: {problem}");
            return 2;
        }
        return options.Foreground ? new DaemonHost(options).Serve(access) : StartDaemon();
    }

    private bool Preflight(out string? problem)
    {
        problem = null;
        if (!File.Exists("/dev/fuse"))
            problem = "/dev/fuse is missing: load the fuse module (modprobe fuse), or in Docker pass --device /dev/fuse --cap-add SYS_ADMIN";
        else if (CallerAccess.ProblemOnSelf() is { } refused)
            problem = $"the daemon cannot reach its callers' memory and fds ({refused}): in Docker add --cap-add SYS_PTRACE (its default seccomp profile allows process_vm_readv and pidfd_getfd only then)";
        else if (!CurrentUser.IsRoot && !File.Exists(LazyUnmount.FuserMount))
            problem = $"without root the mount goes through {LazyUnmount.FuserMount}, which is missing: install the fuse3 package, or run as root";
        else if (DaemonMount.At(options.Mountpoint) is { State: DaemonMountState.Serving or DaemonMountState.NotAnswering } existing)
            problem = existing.Serving
                ? $"a LiveUpdateFs daemon already serves {options.Mountpoint}; stop it with: liveupdatefs unmount --mountpoint {options.Mountpoint}"
                : existing.Problem;
        return problem is null;
    }

    // ---- background: start a detached daemon and wait for it ----

    public int StartDaemon()
    {
        Directory.CreateDirectory(options.Store);
        string logFile = options.LogFile!;
        var start = new ProcessStartInfo
        {
            FileName = ThisProgram.Executable,
            // Fresh pipes, never read: the daemon must not hold on to this
            // command's own stdout/stderr (the .NET runtime dups them at start),
            // or whoever reads them would wait for EOF forever.
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in ThisProgram.ArgumentsBeforeCommand.Concat(options.DaemonArguments()))
            start.ArgumentList.Add(arg);
        start.Environment[DaemonHost.DaemonizedVariable] = "1";
        // The preload library may be loaded here (LD_PRELOAD, /etc/ld.so.preload):
        // it makes itself inert in a process named liveupdatefs.

        using Process daemon = Process.Start(start) ?? throw new InvalidOperationException("could not start the daemon process");
        if (DaemonWait.Until(options.Mountpoint, StartTimeout, d => d.Serving && d.DaemonPid == daemon.Id, out _, () => daemon.HasExited))
        {
            Console.WriteLine($"liveupdatefs: serving {Path.Combine(options.Mountpoint, Defaults.DeviceNode)}" +
                (options.LinkPath is null ? "" : $" (link {options.LinkPath})") + $", daemon pid {daemon.Id}, log {logFile}");
            return 0;
        }
        if (daemon.HasExited)
        {
            Console.Error.WriteLine($"liveupdatefs mount: the daemon exited with {daemon.ExitCode}; its log ({logFile}) ends with:");
            foreach (string line in LastLines(logFile, 10))
                Console.Error.WriteLine("  " + line);
            return 1;
        }
        Console.Error.WriteLine($"liveupdatefs mount: the daemon did not serve {options.Mountpoint} within {StartTimeout.TotalSeconds} s; see {logFile}");
        return 1;
    }

    private static IEnumerable<string> LastLines(string file, int lines)
    {
        try
        {
            return File.ReadAllLines(file).TakeLast(lines).ToList();
        }
        catch (IOException)
        {
            return ["(no log)"];
        }
    }
}
