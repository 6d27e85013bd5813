using System.Diagnostics;
using System.Runtime.InteropServices;
using LiveUpdateFs.Core.Dispatch;
using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Fuse;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;
using Serilog;

namespace LiveUpdateFs.Host;

public sealed record MountOptions(string Mountpoint, string Store, string? Link, bool Foreground, string LogLevel,
    bool GetNameFix, bool FinishChecksReserved);

/// <summary>`liveupdatefs mount`: checks, then serves in the foreground, or
/// starts a detached daemon and returns once its node is usable.</summary>
public sealed class MountCommand(MountOptions options)
{
    private const string DaemonizedVariable = "LIVEUPDATEFS_DAEMONIZED";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);

    public int Run()
    {
        if (!Preflight(out string? problem))
        {
            Console.Error.WriteLine($"liveupdatefs mount: {problem}");
            return 2;
        }
        return options.Foreground ? Serve() : StartDaemon();
    }

    private bool Preflight(out string? problem)
    {
        problem = null;
        if (!File.Exists("/dev/fuse"))
            problem = "/dev/fuse is missing: load the fuse module (modprobe fuse), or in Docker pass --device /dev/fuse --cap-add SYS_ADMIN";
        else if (!ProcessControl.IsRoot)
            problem = "the emulator must run as root for now (mounting FUSE with allow_other and reading callers' memory); run it with sudo";
        else if (ControlCommands.TryReadStatus(options.Mountpoint, out _))
            problem = $"a LiveUpdateFs daemon already serves {options.Mountpoint}; stop it with: liveupdatefs unmount --mountpoint {options.Mountpoint}";
        return problem is null;
    }

    private string? LinkPath => options.Link switch
    {
        null => ProcessControl.IsRoot ? Defaults.Link : null,
        "none" or "" => null,
        var path => Path.GetFullPath(path),
    };

    // ---- foreground: the daemon itself ----

    private int Serve()
    {
        if (Environment.GetEnvironmentVariable(DaemonizedVariable) == "1")
            ProcessControl.DetachFromTerminal();

        using Serilog.Core.Logger log = Logging.Create(options.LogLevel);
        try
        {
            HostSys.PrepareMountpoint(options.Mountpoint, log);
            using StoreLock storeLock = StoreLock.Acquire(options.Store);

            var behaviour = new LuoBehaviour { GetNameFix = options.GetNameFix, FinishChecksReserved = options.FinishChecksReserved };
            var orchestrator = new Orchestrator([new MemfdHandler()], log);
            var fileSystem = new LuoFileSystem(new LuoDispatcher(orchestrator, behaviour), log);
            using FuseServer server = FuseServer.Mount(options.Mountpoint, fileSystem,
                "fsname=liveupdatefs,subtype=liveupdatefs,allow_other,default_permissions", log);
            using var link = DeviceLink.Create(LinkPath, Path.Combine(options.Mountpoint, Defaults.DeviceNode), log);
            using PosixSignalRegistration term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
            using PosixSignalRegistration interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);

            log.Information("LiveUpdateFs serves {Device} (store {Store}, link {Link}, behaviour {@Behaviour}); stop with Ctrl-C or liveupdatefs unmount",
                Path.Combine(options.Mountpoint, Defaults.DeviceNode), options.Store, LinkPath ?? "none", behaviour);
            server.Run();
            log.Information("LiveUpdateFs stops; sessions of this boot are discarded (open fds on the mount now get ENOTCONN)");
            return 0;

            void Stop(PosixSignalContext context)
            {
                context.Cancel = true;
                server.Stop();
            }
        }
        catch (InvalidOperationException ex)
        {
            log.Error("{Problem}", ex.Message);
            return 1;
        }
    }

    // ---- background: start a detached daemon and wait for it ----

    private int StartDaemon()
    {
        Directory.CreateDirectory(options.Store);
        string logFile = Path.Combine(options.Store, "liveupdatefs.log");
        var start = new ProcessStartInfo
        {
            FileName = HostSys.SelfExecutable,
            // Fresh pipes, never read: the daemon must not hold on to this
            // command's own stdout/stderr (the .NET runtime dups them at start),
            // or whoever reads them would wait for EOF forever.
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in HostSys.SelfArguments)
            start.ArgumentList.Add(arg);
        foreach (string arg in new[] { "mount", "--foreground", "--mountpoint", options.Mountpoint, "--store", options.Store,
                     "--link", LinkPath ?? "none", "--log-level", options.LogLevel })
            start.ArgumentList.Add(arg);
        if (!options.GetNameFix)
            start.ArgumentList.Add("--getname-size16");
        if (options.FinishChecksReserved)
            start.ArgumentList.Add("--finish-checks-reserved");
        start.Environment[DaemonizedVariable] = "1";
        start.Environment["LIVEUPDATEFS_LOG_FILE"] = logFile;
        // The daemon must never load the preload library itself (it would ask itself).
        start.Environment.Remove("LD_PRELOAD");
        start.Environment.Remove("LIVEUPDATEFS_MOUNTPOINT");

        using Process daemon = Process.Start(start) ?? throw new InvalidOperationException("could not start the daemon process");
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < StartTimeout)
        {
            if (ControlCommands.TryReadStatus(options.Mountpoint, out int pid) && pid == daemon.Id)
            {
                Console.WriteLine($"liveupdatefs: serving {Path.Combine(options.Mountpoint, Defaults.DeviceNode)}" +
                    (LinkPath is null ? "" : $" (link {LinkPath})") + $", daemon pid {daemon.Id}, log {logFile}");
                return 0;
            }
            if (daemon.HasExited)
            {
                Console.Error.WriteLine($"liveupdatefs mount: the daemon exited with {daemon.ExitCode}; its log ({logFile}) ends with:");
                foreach (string line in HostSys.Tail(logFile, 10))
                    Console.Error.WriteLine("  " + line);
                return 1;
            }
            Thread.Sleep(20);
        }
        Console.Error.WriteLine($"liveupdatefs mount: the daemon did not serve {options.Mountpoint} within {StartTimeout.TotalSeconds} s; see {logFile}");
        return 1;
    }
}
