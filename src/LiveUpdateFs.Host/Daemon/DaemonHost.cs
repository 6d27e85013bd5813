using System.Runtime.InteropServices;
using LiveUpdateFs.Core.Dispatch;
using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Core.Reboot;
using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Fuse;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Store;
using LiveUpdateFs.Store.Handover;
using LiveUpdateFs.Uapi;
using Serilog;

namespace LiveUpdateFs.Host.Daemon;

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

    /// <summary>How long the reboot waits for the seccomp listener thread to
    /// finish the call it is answering before the exec.</summary>
    private static readonly TimeSpan ListenerStopTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Test-only LIVEUPDATEFS_TEST_TRAP_PAUSE_MS: a trapped request
    /// waits this long before its fd is installed, so a test can kill the caller there.</summary>
    private static TimeSpan TrapPause() =>
        int.TryParse(Environment.GetEnvironmentVariable("LIVEUPDATEFS_TEST_TRAP_PAUSE_MS"), out int ms) && ms > 0 ? TimeSpan.FromMilliseconds(ms) : TimeSpan.Zero;

    public int Serve(NodeAccess access)
    {
        if (Environment.GetEnvironmentVariable(DaemonizedVariable) == "1")
            Terminal.Detach();

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
            MountpointDirectory.Prepare(options.Mountpoint, log);
            using StoreLock storeLock = StoreLock.Acquire(options.Store);
            IStoreCheckpoints faults = FaultSwitch.FromEnvironment(log);
            StoreDirectory store = StoreDirectory.Open(options.Store, faults);
            KeptMemfds kept = KeptMemfds.Adopt(store, log);
            var listeners = KeptListeners.Adopt();

            var behaviour = new LuoBehaviour { GetNameFix = options.GetNameFix, FinishChecksReserved = options.FinishChecksReserved };
            var heldFiles = new FuseHeldFiles();
            var orchestrator = new Orchestrator([new MemfdHandler()], log, new StoredIncomingSessions(store, faults, kept, heldFiles, log));
            // Disposed when Serve returns: processes a durable freeze left stopped run again as this daemon ends.
            using var snapshotWriters = new SnapshotWriters(options.Mountpoint, log);
            var reboots = new RebootStateMachine(orchestrator, new StoreHandover(store, faults, heldFiles, log, snapshotWriters), options.FreezeTimeout, log);
            using var fileSystem = new LuoFileSystem(orchestrator, new LuoDispatcher(orchestrator, behaviour), log, reboots,
                new DaemonFacts(options.Mountpoint, ServiceManager.Supervised,
                    Random.Shared.NextInt64().ToString("x16", System.Globalization.CultureInfo.InvariantCulture)), access, TrapPause());
            FuseServer? serving = null;
            // Registered until the process ends or execs: a SIGTERM after the
            // unmount must not kill an instance that still holds kept memfds.
            using PosixSignalRegistration term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
            using PosixSignalRegistration interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
            using (FuseServer server = FuseServer.Mount(options.Mountpoint, fileSystem, MountOptionsFor(CurrentUser.IsRoot), log))
            using (DeviceLink.Create(options.LinkPath, Path.Combine(options.Mountpoint, Defaults.DeviceNode), log))
            {
                serving = server;
                fileSystem.Attach(server);
                fileSystem.AdoptListeners(listeners);
                log.Information("LiveUpdateFs serves {Device} (mode {Mode}, gid {Gid}, store {Store}, link {Link}, GET_NAME fix {GetNameFix}, FINISH checks reserved {FinishChecksReserved}, freeze timeout {FreezeTimeout} s); stop with Ctrl-C or liveupdatefs unmount",
                    Path.Combine(options.Mountpoint, Defaults.DeviceNode), Convert.ToString(access.Mode, 8).PadLeft(4, '0'), access.Gid,
                    options.Store, options.LinkPath ?? "none", behaviour.GetNameFix, behaviour.FinishChecksReserved, options.FreezeTimeout.TotalSeconds);
                ServiceManager.Notify($"READY=1\nMAINPID={Environment.ProcessId}\nSTATUS=serving {Path.Combine(options.Mountpoint, Defaults.DeviceNode)}");
                server.Run();
                serving = null;
            }
            // Unmounted: every held request has had its ENOTCONN (so the
            // listener thread's own open of a session node has returned too).
            // The listener thread stops before the state is handed over: from
            // here on this thread alone owns it (docs/seccomp.md §6).
            IReadOnlyList<(SafeFd Fd, uint Uid, int Pid)> keptListeners = fileSystem.DetachListeners(ListenerStopTimeout);
            // A committed reboot starts the next boot; anything else is a
            // stop, handed over durably like a reboot (docker stop / start).
            StopOutcome outcome = reboots.Stop();
            if (outcome.Restart is { } plan)
            {
                // Holders a reboot kept (--keep-processes) must not stay stopped across the exec.
                snapshotWriters.ResumeAll("the next boot starts");
                return StartNextBoot(plan, reboots, keptListeners, log);
            }
            foreach ((SafeFd fd, uint _, int _) in keptListeners)
                fd.Dispose(); // a stop: each tree's keeper takes over (docs/seccomp.md §7)
            ServiceManager.Notify("STOPPING=1");
            return Stopped(outcome, log);

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
    /// A committed reboot's second half: exec this program again as the next
    /// boot. In place, the kept memfds stay open across the exec and the new
    /// instance adopts them (<see cref="KeptMemfds"/>); durable, it reads the
    /// store. Returns only when the exec fails, after writing the sessions
    /// durably where they would die with this process.
    /// </summary>
    private int StartNextBoot(RestartPlan plan, RebootStateMachine reboots, IReadOnlyList<(SafeFd Fd, uint Uid, int Pid)> listeners, ILogger log)
    {
        GenerationWriter next = ((StoreImage)plan.Image).Writer;
        bool inPlace = plan.Mode == RebootMode.InPlace;
        var environment = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .Select(e => ((string)e.Key, (string?)e.Value))
            // A fault fires in one instance only (the next one gets its own); the key is the new one's.
            .Where(e => e.Item1 is not (FaultSwitch.Variable or FaultSwitch.NextVariable or KeptMemfds.Variable or KeptListeners.Variable))
            .Select(e => $"{e.Item1}={e.Item2}")
            .Concat(inPlace ? [$"{KeptMemfds.Variable}={next.KeptKey:x16}"] : [])
            .Concat(listeners.Count > 0 ? [$"{KeptListeners.Variable}={KeptListeners.Encode(listeners)}"] : [])
            .Concat(Environment.GetEnvironmentVariable(FaultSwitch.NextVariable) is { Length: > 0 } fault ? [$"{FaultSwitch.Variable}={fault}"] : [])
            .ToList();
        List<string> arguments = [ThisProgram.Executable, .. ThisProgram.ArgumentsBeforeCommand, .. options.DaemonArguments()];
        log.Information("Reboot ({Mode}): starting the next boot from generation {Generation} in this process with {Files} memfds and {Listeners} seccomp listeners kept open",
            plan.Mode, next.Generation, inPlace ? next.KeptFiles.Count : 0, listeners.Count);
        List<int> inherited = [.. inPlace ? next.KeptFiles.Select(k => k.Fd) : [], .. listeners.Select(l => l.Fd.Fd)];
        Errno exec = ProcessImage.Exec(ThisProgram.Executable, arguments, environment, inherited);
        log.Error("The reboot could not exec {Program} ({Errno}); the next start boots from the store. Start the daemon again with liveupdatefs mount",
            ThisProgram.Executable, exec.Name);
        StopOutcome written = reboots.RestartFailed();
        if (written.Result.IsError)
            return Stopped(written, log);
        return Stopped(new StopOutcome(Errno.None, written.Summary, plan), log);
    }

    /// <summary>How the daemon ends: 1 when this boot's sessions were lost;
    /// under a supervisor, after a committed reboot, the status that makes it
    /// start the next boot.</summary>
    private static int Stopped(StopOutcome outcome, ILogger log)
    {
        if (outcome.Result.IsError)
        {
            log.Error("LiveUpdateFs stops WITHOUT handing over this boot's sessions: writing them into the store failed with {Errno} (see above); the next start boots into the previous committed state",
                outcome.Result.Name);
            return 1;
        }
        if (outcome.Restart is not null && ServiceManager.Supervised)
        {
            log.Information("LiveUpdateFs stops after the reboot with status {Status}: the supervisor starts the next boot",
                ServiceManager.RestartForLiveUpdate);
            return ServiceManager.RestartForLiveUpdate;
        }
        log.Information("LiveUpdateFs stops; {Sessions} sessions with {Files} files are handed over to the next start (open fds on the mount now get ENOTCONN)",
            outcome.Summary.Sessions, outcome.Summary.Files);
        return 0;
    }
}
