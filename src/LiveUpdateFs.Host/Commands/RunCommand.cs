using LiveUpdateFs.Fuse;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Interop.Seccomp;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Host.Commands;

/// <summary>
/// `liveupdatefs run -- PROGRAM ARGS` (docs/design.md §10.2, docs/seccomp.md):
/// becomes PROGRAM (execve in place: same pid, its exit status, its
/// signals) with the fd-returning LUO requests served. By default a seccomp
/// filter installed on this process and inherited by the whole tree traps
/// them and the daemon answers through its listener: any program, static,
/// Go or raw syscalls. With <c>--preload</c> the preload library does it
/// (dynamically linked programs only).
/// </summary>
/// <param name="extras">What the filter traps besides the fd-returning requests (README "Differences from the kernel").</param>
public sealed class RunCommand(string mountpoint, bool preload, TrapExtras extras, string[] program)
{
    /// <summary>Set for the program: this tree is served by the daemon of that
    /// mountpoint, so a nested run for it only execs (a second listener is
    /// refused by the kernel, EBUSY).</summary>
    public const string ServedVariable = "LIVEUPDATEFS_SECCOMP";

    /// <summary>Exit status when the program could not be run as asked (not its own status).</summary>
    public const int Unusable = 2;

    public int Run()
    {
        if (FindProgram(program[0]) is not { } path)
            return Fail($"cannot find {program[0]} (not a path to an executable, nor on PATH)", 127);
        var environment = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .ToDictionary(e => (string)e.Key, e => (string?)e.Value ?? "");
        if (preload)
        {
            string library = Defaults.PreloadLibrary;
            if (!File.Exists(library))
                return Fail($"the preload library {library} is missing; build it with ./scripts/setup", Unusable);
            environment["LD_PRELOAD"] = environment.GetValueOrDefault("LD_PRELOAD") is { Length: > 0 } existing ? $"{library}:{existing}" : library;
            environment["LIVEUPDATEFS_MOUNTPOINT"] = mountpoint;
        }
        else
        {
            int trapped = Trap(alreadyServed: environment.GetValueOrDefault(ServedVariable) == mountpoint);
            if (trapped != 0)
                return trapped;
            environment[ServedVariable] = mountpoint;
        }
        Errno exec = ProcessImage.Exec(path, program, [.. environment.Select(e => $"{e.Key}={e.Value}")], []);
        return Fail($"cannot run {path} ({exec.Name})", exec == Errno.EACCES ? 126 : 127);
    }

    /// <summary>Installs the filter and hands its listener to the daemon; 0 or the exit status of the failure.</summary>
    /// <param name="alreadyServed">The variable says an outer run of this mountpoint serves the tree.</param>
    private int Trap(bool alreadyServed)
    {
        DaemonMount daemon = DaemonMount.At(mountpoint);
        if (!daemon.Serving)
            return Fail(daemon.State == DaemonMountState.NotMounted
                ? $"no daemon serves {mountpoint}: start one with `liveupdatefs mount --mountpoint {mountpoint}`"
                : daemon.Problem, Unusable);
        // Yama ptrace_scope 1 and a daemon that is not root: the daemon may
        // read this process's structs only if named its ptracer (as the
        // preload library does); children of the program are not covered
        // (README "Without root").
        if (CallerAccess.YamaPtraceScope() == 1 && daemon.DaemonPid > 0 && !OwnedByRoot(daemon.DaemonPid))
            CallerAccess.AllowTracer(daemon.DaemonPid);
        // Started before the filter exists, so that it is not under it; not
        // for a nested run, whose tree the outer run's keeper covers (a
        // stale variable then leaves the new tree without one).
        using ListenerKeeperStart? keeper = alreadyServed ? null : ListenerKeeperStart.Begin(mountpoint);
        Errno installed = SeccompFilter.Install(extras, out SafeFd? listener);
        // A nested run: the kernel allows one listener per tree, and the
        // outer run's serves it (a stale variable without one installs anew).
        if (installed == Errno.EBUSY && alreadyServed)
            return 0;
        if (installed == Errno.EBUSY)
            return Fail("this process already runs under a seccomp filter with a listener (a container runtime's or another supervisor's; "
                + $"an outer `liveupdatefs run` of another mount counts too), and the kernel allows one per process tree: use --preload", Unusable);
        if (installed.IsError)
            return Fail($"seccomp user notification is not available here ({installed.Name}; it needs Linux 5.9+ with seccomp, "
                + "and a container profile that allows the seccomp() call): use --preload for dynamically linked programs", Unusable);
        using (listener)
        {
            keeper?.Hand(listener!);
            Envelope serve = Envelope.NewServeListener(listener!.Fd);
            Errno served = NodeIoctl.Call(Path.Combine(mountpoint, Envelope.ControlNode), Envelope.Request, serve.Buffer);
            if (served.IsError && !serve.Answered)
                return Fail($"the daemon serving {mountpoint} does not take seccomp listeners ({served.Name}; an older liveupdatefs?): restart it, or use --preload", Unusable);
            if (served.IsError)
                return Fail(served == Errno.EMFILE
                    ? $"the daemon serving {mountpoint} already serves as many `run` trees of your user as it allows; end some, or use --preload"
                    : $"the daemon serving {mountpoint} refused the listener ({served.Name}); see its log", Unusable);
        }
        return 0;
    }

    private static bool OwnedByRoot(int pid) =>
        ProcFs.ReadText($"/proc/{pid}/status") is { } status && ProcFs.FieldOf(status, "Uid:")?.Split('\t', StringSplitOptions.RemoveEmptyEntries) is [_, "0", ..];

    /// <summary>execvp's search: a name with a slash as it is, else the first executable on PATH.</summary>
    private static string? FindProgram(string name)
    {
        if (name.Contains('/'))
            return File.Exists(name) ? name : null;
        string pathVariable = Environment.GetEnvironmentVariable("PATH") is { Length: > 0 } p ? p : "/usr/local/bin:/usr/bin:/bin";
        return pathVariable.Split(':').Select(dir => Path.Combine(dir.Length == 0 ? "." : dir, name))
            .FirstOrDefault(candidate => File.Exists(candidate) && (File.GetUnixFileMode(candidate) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0);
    }

    public static int Fail(string message, int status)
    {
        Console.Error.WriteLine($"liveupdatefs run: {message}");
        return status;
    }
}
