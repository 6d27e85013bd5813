using System.Globalization;
using LiveUpdateFs.Fuse.Status;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Host.Commands;

/// <summary>
/// The daemon serving a mountpoint, as far as a command (`status`,
/// `unmount`, `reboot`, `mount`'s checks) may trust it. Anyone can put a
/// status.json into a directory, and any user can mount a FUSE file system
/// of subtype liveupdatefs with fusermount3; so the directory must be a
/// fuse.liveupdatefs mount of root or of the caller (mountinfo, which asks
/// no daemon), and its status.json is the daemon's. That read waits for the
/// daemon, which may be stopped or hung: it runs on a thread of its own and
/// is given up after <see cref="AnswerTimeout"/>. The pid in status.json is
/// signalled only through <see cref="PinDaemon"/>: pinned by a pidfd, then
/// checked to be a liveupdatefs program of the mount's owner (or root) that
/// sees this mount's FUSE connection.
/// </summary>
public sealed class DaemonMount
{
    public static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(5);
    public const string FuseType = "fuse.liveupdatefs";
    private const string Program = "liveupdatefs";
    private const string Deleted = " (deleted)";

    private readonly MountEntry? _mount;
    private readonly StatusDocument? _status;

    private DaemonMount(string mountpoint, DaemonMountState state, string problem, MountEntry? mount = null, StatusDocument? status = null,
        int daemonPid = 0)
    {
        Mountpoint = mountpoint;
        State = state;
        Problem = problem;
        _mount = mount;
        _status = status;
        DaemonPid = daemonPid;
    }

    public string Mountpoint { get; }

    public DaemonMountState State { get; }

    public bool Serving => State == DaemonMountState.Serving;

    /// <summary>Why it does not serve, and what to do; empty when it serves.</summary>
    public string Problem { get; }

    /// <summary>The daemon's status.json (only when <see cref="Serving"/>).</summary>
    public StatusDocument Status => _status ?? throw new InvalidOperationException($"no daemon serves {Mountpoint}");

    /// <summary>The pid status.json names: to be signalled only through <see cref="PinDaemon"/>.</summary>
    public int DaemonPid { get; }

    /// <summary>The boot status.json names ("" when it names none).</summary>
    public string Boot => Status.Boot;

    /// <summary>A supervisor (systemd) restarts this daemon when its exec fails.</summary>
    public bool Supervised => Status.Supervised;

    /// <summary>What serves <paramref name="mountpoint"/> (a path as the kernel names it).</summary>
    public static DaemonMount At(string mountpoint)
    {
        // A reboot's exec replaces the mount (a new FUSE connection) at any
        // moment: a look that met the old one and a read that met the new one
        // are looked at again.
        DaemonMount found = Look(mountpoint);
        for (int again = 0; again < 3 && found.State == DaemonMountState.Replaced; again++)
            found = Look(mountpoint);
        return found.State == DaemonMountState.Replaced
            ? new(mountpoint, DaemonMountState.Untrusted, $"the mount at {mountpoint} kept changing while it was read; nothing was done, try again")
            : found;
    }

    private static DaemonMount Look(string mountpoint)
    {
        MountEntry? mount = MountTable.At(mountpoint);
        if (mount is null)
            return new(mountpoint, DaemonMountState.NotMounted,
                $"no daemon serves {mountpoint}: nothing is mounted there. Start one with: liveupdatefs mount --mountpoint {mountpoint}");
        if (mount.FsType != FuseType)
            return new(mountpoint, DaemonMountState.Untrusted,
                $"{mountpoint} is a {mount.FsType} mount, not a liveupdatefs one: refused, nothing was done");
        uint caller = CurrentUser.EffectiveUid;
        if (mount.FuseOwner is not { } owner || owner != 0 && owner != caller)
            return new(mountpoint, DaemonMountState.Untrusted,
                $"{mountpoint} is a liveupdatefs mount of uid {mount.FuseOwner?.ToString(CultureInfo.InvariantCulture) ?? "unknown"}: only mounts of root "
                + $"and of your own user (uid {caller}) are trusted, as any user can mount one; refused, nothing was done. Run the command as its owner");
        return Read(mountpoint, mount);
    }

    /// <summary>Pins the daemon by a pidfd and checks that it is this mount's:
    /// a liveupdatefs program, of the mount's owner or root, whose mount
    /// namespace has this mount's FUSE connection. Null, with the reason,
    /// when it is not (then nothing may be signalled).</summary>
    public ProcessPin? PinDaemon(out string problem)
    {
        MountEntry mount = _mount ?? throw new InvalidOperationException($"no daemon serves {Mountpoint}");
        ProcessPin? pin = ProcessPin.Of(DaemonPid);
        // Checked after the pin and while it still runs: the /proc files read were the pinned process's.
        string? why = pin is null ? "it has ended" : Unverified(DaemonPid, mount) ?? (pin.HasExited ? "it has ended" : null);
        if (why is null)
        {
            problem = "";
            return pin;
        }
        pin?.Dispose();
        problem = $"status.json of {Mountpoint} names pid {DaemonPid}, which is not its daemon: {why}; refused, nothing was signalled";
        return null;
    }

    /// <summary>What reads of a FUSE mount whose daemon has ended answer: ENOTCONN,
    /// or ECONNABORTED for a read under way when it died (the IOException's HResult is the errno).</summary>
    private static bool DeadConnection(IOException failed) => new Errno(failed.HResult) == Errno.ENOTCONN || new Errno(failed.HResult) == Errno.ECONNABORTED;

    /// <summary>The file at <paramref name="path"/> if the opened file is on
    /// <paramref name="mount"/> (its mount id, from fdinfo: the path cannot
    /// have been swapped for one that leads elsewhere between the mountinfo
    /// check and the open); null otherwise.</summary>
    private static byte[]? ReadOnMount(string path, MountEntry mount)
    {
        var (opened, file) = FileOps.OpenRead(path);
        if (opened.IsError)
            throw new IOException($"cannot open {path}: {opened.Name}", opened.Value);
        using (file)
        {
            if (MountTable.MountIdOf("self", file!.Fd) != mount.Id)
                return null;
            var (error, content) = FileOps.ReadToEnd(file);
            return error.IsError ? throw new IOException($"cannot read {path}: {error.Name}", error.Value) : content;
        }
    }

    private static DaemonMount Read(string mountpoint, MountEntry mount)
    {
        string path = Path.Combine(mountpoint, Defaults.StatusFile);
        // A thread of its own: a stopped daemon's read never returns (the thread ends with the process).
        Task<byte[]?> read = Task.Factory.StartNew(() => ReadOnMount(path, mount), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        byte[] bytes;
        try
        {
            if (!read.Wait(AnswerTimeout))
                return NotAnswering(mountpoint, mount);
            if (read.Result is not { } content)
                return MountTable.At(mountpoint)?.Id != mount.Id
                    ? new(mountpoint, DaemonMountState.Replaced, "")
                    : new(mountpoint, DaemonMountState.Untrusted,
                        $"{path} is not on the liveupdatefs mount at {mountpoint} (a path that leads elsewhere); refused, nothing was done");
            bytes = content;
        }
        catch (AggregateException ex) when (ex.InnerException is UnauthorizedAccessException denied)
        {
            return new(mountpoint, DaemonMountState.Untrusted,
                $"cannot read {path} ({denied.Message}): only root or the daemon's user may control it; refused, nothing was done");
        }
        catch (AggregateException ex) when (ex.InnerException is IOException failed && !DeadConnection(failed))
        {
            // Not the dead connection's answer: a live mount must never be detached for it.
            return new(mountpoint, DaemonMountState.Untrusted,
                $"cannot read {path} ({failed.Message}); refused, nothing was done. Check the daemon's log");
        }
        catch (AggregateException ex) when (ex.InnerException is IOException failed)
        {
            return new(mountpoint, DaemonMountState.Dead,
                $"no daemon serves {mountpoint}: the daemon of its liveupdatefs mount has ended ({failed.Message}). "
                + $"Start one with: liveupdatefs mount --mountpoint {mountpoint} (that clears the dead mount), or clear it with: liveupdatefs unmount --mountpoint {mountpoint}",
                mount);
        }
        if (StatusDocument.Parse(bytes) is not { DaemonPid: > 0 } status)
            return new(mountpoint, DaemonMountState.Untrusted,
                $"{path} is not a liveupdatefs daemon's status (not the document docs/status.schema.json describes: a daemon of another version?); refused, nothing was done");
        return new(mountpoint, DaemonMountState.Serving, "", mount, status, status.DaemonPid);
    }

    private static DaemonMount NotAnswering(string mountpoint, MountEntry mount)
    {
        int? pid = DaemonByCommandLine(mountpoint, mount);
        string daemon = pid is { } known ? $"daemon (pid {known})" : "daemon";
        string resume = pid is { } stopped ? $"kill -CONT {stopped}" : "kill -CONT";
        string kill = pid is { } hung ? $"kill -9 {hung}" : "kill -9 PID (find it with: ps -C liveupdatefs -o pid,args)";
        return new(mountpoint, DaemonMountState.NotAnswering,
            $"the {daemon} serving {mountpoint} does not answer within {AnswerTimeout.TotalSeconds:0} s: it is stopped ({resume} resumes it) or hung. "
            + $"To end it: {kill}, then clear its mount with: liveupdatefs unmount --mountpoint {mountpoint} "
            + "(as in a crash, sessions that no reboot or stop handed over are lost)",
            mount);
    }

    /// <summary>For a message only: the one liveupdatefs daemon (a checked
    /// one, serving in the foreground) whose command line names this
    /// mountpoint, or null. The daemon itself cannot be asked.</summary>
    private static int? DaemonByCommandLine(string mountpoint, MountEntry mount)
    {
        var found = new List<int>();
        foreach (string name in ProcFs.Names("/proc"))
        {
            // The program first: only a liveupdatefs process's command line is read.
            if (!int.TryParse(name, CultureInfo.InvariantCulture, out int pid) || pid == Environment.ProcessId || !RunsDaemonProgram(pid))
                continue;
            string[] arguments = ProcFs.CommandLineOf(pid);
            bool namesIt = arguments.Zip(arguments.Skip(1)).Any(a => a.First is "--mountpoint" or "-m" && a.Second == mountpoint);
            if (namesIt && arguments.Contains("--foreground") && Unverified(pid, mount) is null)
                found.Add(pid);
        }
        return found.Count == 1 ? found[0] : null;
    }

    /// <summary>Why <paramref name="pid"/> is not the daemon of <paramref name="mount"/>, or null when it is.</summary>
    private static string? Unverified(int pid, MountEntry mount)
    {
        string? program = ProcFs.ReadLink($"/proc/{pid}/exe");
        if (program is null)
            return "its program cannot be read (it has ended, or it is another user's: only root or the daemon's user may control it)";
        if (!RunsDaemonProgram(pid))
            return $"it runs {program}, not {Program}";
        uint owner = mount.FuseOwner ?? 0;
        uint? uid = ProcFs.EffectiveUidOf(pid);
        if (uid is null)
            return "it has ended";
        if (uid != owner && uid != 0)
            return $"it runs as uid {uid}, and the mount belongs to uid {owner}";
        if (MountTable.MountIdsOf(pid.ToString(CultureInfo.InvariantCulture), mount.Device).Count == 0)
            return $"its mount namespace has no mount of this FUSE connection ({mount.Device})";
        return null;
    }

    private static bool RunsDaemonProgram(int pid) =>
        ProcFs.ReadLink($"/proc/{pid}/exe") is { } program
        && Path.GetFileName(program.EndsWith(Deleted, StringComparison.Ordinal) ? program[..^Deleted.Length] : program) == Program;
}
