using System.Diagnostics;
using System.Runtime.InteropServices;
using LiveUpdateFs.Core.Dispatch;
using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Core.Reboot;
using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Fuse;
using LiveUpdateFs.Host.Reboot;
using LiveUpdateFs.Store;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;
using Serilog;

namespace LiveUpdateFs.Host;

public sealed record MountOptions(string Mountpoint, string Store, string? Link, bool Foreground, LogSettings Log,
    bool GetNameFix, bool FinishChecksReserved, string? DeviceMode = null, string? DeviceGroup = null)
{
    /// <summary>Who may open the device; null when the options are unusable (<paramref name="problem"/> says why).</summary>
    public NodeAccess? Access(out string? problem) => NodeAccess.Parse(DeviceMode, DeviceGroup, out problem);

    /// <summary>Where the log goes: the given file; for a background daemon
    /// STORE/liveupdatefs.log; in the foreground stderr (null).</summary>
    public string? LogFile => Log.File ?? (Foreground ? null : Path.Combine(Store, Defaults.LogFileName));

    /// <summary>The link to create: the default one when root, none for 'none'.</summary>
    public string? LinkPath => Link switch
    {
        null => ProcessControl.IsRoot ? Defaults.Link : null,
        "none" or "" => null,
        var path => Path.GetFullPath(path),
    };

    /// <summary>The `liveupdatefs` arguments that mount a daemon like this one
    /// (the background start and `reboot` use them).</summary>
    public List<string> ToArguments(bool foreground)
    {
        List<string> arguments = ["mount", "--mountpoint", Mountpoint, "--store", Store, "--link", LinkPath ?? "none",
            "--log-level", Log.Level, "--log-format", Log.Format];
        if (LogFile is { } file)
            arguments.AddRange(["--log-file", file]);
        if (foreground)
            arguments.Add("--foreground");
        if (!GetNameFix)
            arguments.Add("--getname-size16");
        if (FinishChecksReserved)
            arguments.Add("--finish-checks-reserved");
        if (DeviceMode is not null)
            arguments.AddRange(["--device-mode", DeviceMode]);
        if (DeviceGroup is not null)
            arguments.AddRange(["--device-group", DeviceGroup]);
        return arguments;
    }
}

/// <summary>`liveupdatefs mount`: checks, then serves in the foreground, or
/// starts a detached daemon and returns once its node is usable.</summary>
public sealed class MountCommand(MountOptions options)
{
    private const string DaemonizedVariable = "LIVEUPDATEFS_DAEMONIZED";
    private const string FuserMount = "/usr/bin/fusermount3";

    /// <summary>As root every user's programs may reach the node (allow_other;
    /// its mode decides); without root only the mounting user's (fusermount3
    /// allows allow_other only with user_allow_other in /etc/fuse.conf).</summary>
    private static string MountOptionsFor(bool root) =>
        "fsname=liveupdatefs,subtype=liveupdatefs,default_permissions" + (root ? ",allow_other" : "");
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);

    public int Run()
    {
        NodeAccess? access = options.Access(out string? problem);
        if (access is null || !Preflight(out problem))
        {
            Console.Error.WriteLine($"liveupdatefs mount: {problem}");
            return 2;
        }
        return options.Foreground ? Serve(access) : StartDaemon();
    }

    private bool Preflight(out string? problem)
    {
        problem = null;
        if (!File.Exists("/dev/fuse"))
            problem = "/dev/fuse is missing: load the fuse module (modprobe fuse), or in Docker pass --device /dev/fuse --cap-add SYS_ADMIN";
        else if (ProcessControl.CallerAccessProblem() is { } refused)
            problem = $"the daemon cannot reach its callers' memory and fds ({refused}): in Docker add --cap-add SYS_PTRACE (its default seccomp profile allows process_vm_readv and pidfd_getfd only then)";
        else if (!ProcessControl.IsRoot && !File.Exists(FuserMount))
            problem = $"without root the mount goes through {FuserMount}, which is missing: install the fuse3 package, or run as root";
        else if (ControlCommands.TryReadStatus(options.Mountpoint, out _))
            problem = $"a LiveUpdateFs daemon already serves {options.Mountpoint}; stop it with: liveupdatefs unmount --mountpoint {options.Mountpoint}";
        return problem is null;
    }

    // ---- foreground: the daemon itself ----

    private int Serve(NodeAccess access)
    {
        if (Environment.GetEnvironmentVariable(DaemonizedVariable) == "1")
            ProcessControl.DetachFromTerminal();

        Serilog.Core.Logger log;
        try
        {
            log = Logging.Create(options.Log);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"liveupdatefs mount: cannot write the log file {options.Log.File}: {ex.Message}; give a writable --log-file");
            return 1;
        }
        using (log)
            return Serve(log, access);
    }

    private int Serve(Serilog.Core.Logger log, NodeAccess access)
    {
        try
        {
            HostSys.PrepareMountpoint(options.Mountpoint, log);
            using StoreLock storeLock = StoreLock.Acquire(options.Store);
            IStoreCheckpoints faults = FaultSwitch.FromEnvironment(log);
            StoreDirectory store = StoreDirectory.Open(options.Store, faults);
            KeptMemfds kept = KeptMemfds.Adopt(store, log);

            var behaviour = new LuoBehaviour { GetNameFix = options.GetNameFix, FinishChecksReserved = options.FinishChecksReserved };
            var orchestrator = new Orchestrator([new MemfdHandler()], log, new StoredIncomingSessions(store, faults, kept, log));
            var freezer = new StoreHandover(orchestrator, store, faults, log);
            var fileSystem = new LuoFileSystem(new LuoDispatcher(orchestrator, behaviour), log, freezer,
                new DaemonFacts(options.Mountpoint, options.ToArguments(foreground: false), ServiceManager.Supervised,
                    Random.Shared.NextInt64().ToString("x16", System.Globalization.CultureInfo.InvariantCulture)), access);
            FuseServer? serving = null;
            // Registered until the process ends or execs: a SIGTERM after the
            // unmount must not kill an instance that still holds kept memfds.
            using PosixSignalRegistration term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
            using PosixSignalRegistration interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
            using (FuseServer server = FuseServer.Mount(options.Mountpoint, fileSystem, MountOptionsFor(ProcessControl.IsRoot), log))
            using (DeviceLink.Create(options.LinkPath, Path.Combine(options.Mountpoint, Defaults.DeviceNode), log))
            {
                serving = server;
                freezer.StopServing = server.Stop;
                log.Information("LiveUpdateFs serves {Device} (mode {Mode}, gid {Gid}, store {Store}, link {Link}, GET_NAME fix {GetNameFix}, FINISH checks reserved {FinishChecksReserved}); stop with Ctrl-C or liveupdatefs unmount",
                    Path.Combine(options.Mountpoint, Defaults.DeviceNode), Convert.ToString(access.Mode, 8).PadLeft(4, '0'), access.Gid,
                    options.Store, options.LinkPath ?? "none", behaviour.GetNameFix, behaviour.FinishChecksReserved);
                ServiceManager.Notify($"READY=1\nMAINPID={Environment.ProcessId}\nSTATUS=serving {Path.Combine(options.Mountpoint, Defaults.DeviceNode)}");
                server.Run();
                serving = null;
            }
            // Unmounted: every held request has had its ENOTCONN.
            if (freezer.RestartRequested is { } next)
                return RestartInPlace(next, freezer, log);
            ServiceManager.Notify("STOPPING=1");
            if (!orchestrator.Frozen)
                return FreezeAndStop(freezer, log);
            return freezer.InPlacePending ? WriteDurablyAndStop(freezer, log) : Stopped(log);

            void Stop(PosixSignalContext context)
            {
                context.Cancel = true;
                serving?.Stop();
            }
        }
        catch (InvalidOperationException ex)
        {
            log.Error("{Problem}", ex.Message);
            return 1;
        }
    }

    /// <summary>
    /// The in-place reboot's second half: commit the prepared generation and
    /// exec this program again with the kept memfds open; the new instance
    /// adopts them (<see cref="KeptMemfds"/>). Returns only when that fails,
    /// after writing the sessions durably instead.
    /// </summary>
    private int RestartInPlace(GenerationWriter next, StoreHandover freezer, ILogger log)
    {
        Errno published = next.Publish();
        if (published.IsError)
        {
            log.Error("The in-place reboot could not commit generation {Generation} ({Errno}); the sessions are written into the store instead",
                next.Generation, published.Name);
            return WriteDurablyAndStop(freezer, log);
        }
        freezer.WarnIfUnsynced(next);
        var environment = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .Select(e => ((string)e.Key, (string?)e.Value))
            // A fault fires in one instance only; the key is the new one's.
            .Where(e => e.Item1 is not (FaultSwitch.Variable or KeptMemfds.Variable))
            .Select(e => $"{e.Item1}={e.Item2}")
            .Append($"{KeptMemfds.Variable}={next.KeptKey:x16}")
            .ToList();
        List<string> arguments = [HostSys.SelfExecutable, .. HostSys.SelfArguments, .. options.ToArguments(foreground: true)];
        log.Information("Reboot in place: generation {Generation} committed; starting the next boot in this process with {Files} memfds kept open",
            next.Generation, next.KeptFiles.Count);
        Errno exec = ProcessImage.Exec(HostSys.SelfExecutable, arguments, environment, next.KeptFiles.Select(k => k.Fd).ToList());
        log.Error("The in-place reboot could not exec {Program} ({Errno}); the sessions are written into the store instead. Start the daemon again with liveupdatefs mount",
            HostSys.SelfExecutable, exec.Name);
        return WriteDurablyAndStop(freezer, log);
    }

    /// <summary>A stop after an in-place freeze: the kept memfds would die with
    /// this process, so their sessions are copied into the store first.</summary>
    private static int WriteDurablyAndStop(StoreHandover freezer, ILogger log)
    {
        Errno written = freezer.WriteInPlaceDurably(out HandoverSummary summary);
        if (written.IsError)
        {
            log.Error("LiveUpdateFs stops and the sessions frozen for the in-place reboot are LOST: writing them into the store failed with {Errno} (see above); the next start boots into the previous committed state",
                written.Name);
            return 1;
        }
        log.Information("The {Sessions} sessions with {Files} files frozen for an in-place reboot were written into the store instead", summary.Sessions, summary.Files);
        return Stopped(log);
    }

    private static int Stopped(ILogger log)
    {
        if (ServiceManager.Supervised)
        {
            log.Information("LiveUpdateFs stops after the reboot serialization with status {Status}: the supervisor starts the next boot",
                ServiceManager.RestartForLiveUpdate);
            return ServiceManager.RestartForLiveUpdate;
        }
        log.Information("LiveUpdateFs stops after the reboot serialization; the next start boots into the handed-over sessions");
        return 0;
    }

    /// <summary>SIGTERM, Ctrl-C, unmount: the same freeze as a reboot, so the
    /// next start boots into the outgoing sessions (docker stop / start).</summary>
    private static int FreezeAndStop(IRebootFreezer freezer, ILogger log)
    {
        Errno frozen = freezer.FreezeForReboot(RebootMode.Durable, progress: null, out HandoverSummary summary);
        if (frozen.IsError)
        {
            log.Error("LiveUpdateFs stops WITHOUT handing over this boot's sessions: the freeze failed with {Errno} (see above); the next start boots into the previous committed state",
                frozen.Name);
            return 1;
        }
        log.Information("LiveUpdateFs stops; {Sessions} sessions with {Files} files are handed over to the next start (open fds on the mount now get ENOTCONN)",
            summary.Sessions, summary.Files);
        return 0;
    }

    // ---- background: start a detached daemon and wait for it ----

    public int StartDaemon()
    {
        Directory.CreateDirectory(options.Store);
        string logFile = options.LogFile!;
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
        foreach (string arg in HostSys.SelfArguments.Concat(options.ToArguments(foreground: true)))
            start.ArgumentList.Add(arg);
        start.Environment[DaemonizedVariable] = "1";
        // The preload library may be loaded here (LD_PRELOAD, /etc/ld.so.preload):
        // it makes itself inert in a process named liveupdatefs.

        using Process daemon = Process.Start(start) ?? throw new InvalidOperationException("could not start the daemon process");
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < StartTimeout)
        {
            if (ControlCommands.TryReadStatus(options.Mountpoint, out int pid) && pid == daemon.Id)
            {
                Console.WriteLine($"liveupdatefs: serving {Path.Combine(options.Mountpoint, Defaults.DeviceNode)}" +
                    (options.LinkPath is null ? "" : $" (link {options.LinkPath})") + $", daemon pid {daemon.Id}, log {logFile}");
                return 0;
            }
            if (daemon.HasExited)
            {
                Console.Error.WriteLine($"liveupdatefs mount: the daemon exited with {daemon.ExitCode}; its log ({logFile}) ends with:");
                foreach (string line in HostSys.Tail(logFile, 10))
                    Console.Error.WriteLine("  " + line);
                return 1;
            }
            Thread.Sleep(5);
        }
        Console.Error.WriteLine($"liveupdatefs mount: the daemon did not serve {options.Mountpoint} within {StartTimeout.TotalSeconds} s; see {logFile}");
        return 1;
    }
}
