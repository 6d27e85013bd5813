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

/// <summary>The daemon itself (`liveupdatefs mount --foreground`): serves
/// until a stop or a reboot, then takes the matching shutdown path.</summary>
public sealed class DaemonHost(MountOptions options)
{
    /// <summary>Set by `mount` for the detached daemon it starts.</summary>
    public const string DaemonizedVariable = "LIVEUPDATEFS_DAEMONIZED";

    /// <summary>As root every user's programs may reach the node (allow_other;
    /// its mode decides); without root only the mounting user's (fusermount3
    /// allows allow_other only with user_allow_other in /etc/fuse.conf).</summary>
    private static string MountOptionsFor(bool root) =>
        "fsname=liveupdatefs,subtype=liveupdatefs,default_permissions" + (root ? ",allow_other" : "");

    public int Serve(NodeAccess access)
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
            // Disposed when Serve returns: processes a durable freeze left stopped run again as this daemon ends.
            using var snapshotWriters = new SnapshotWriters(options.Mountpoint, log);
            var freezer = new StoreHandover(orchestrator, store, faults, log, snapshotWriters);
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
        Errno frozen = freezer.FreezeForReboot(RebootMode.Durable, requester: null, progress: null, out HandoverSummary summary);
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
}
