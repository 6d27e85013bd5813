using LiveUpdateFs.Fuse;
using LiveUpdateFs.Interop;

namespace LiveUpdateFs.Host;

/// <summary>
/// Which processes hold fds of the emulator's device node or of a session,
/// in every mount namespace (readdir, readlink and fdinfo of /proc/PID/fd,
/// which never ask the FUSE daemon: a scan from the daemon itself cannot
/// wait for it). A node is recognised by its name (the last part of the fd's
/// path: in another namespace the part before may differ, and a node whose
/// name was looked up again since shows as "(deleted)") and by its mount:
/// the fd's mount id must be one of the mounts of this emulator's FUSE
/// device in any namespace (mount ids are unique system-wide, and an fd
/// keeps the id of the mount it was opened on, also after its process
/// entered another namespace or received it from one). An fd on the control
/// node alone (the preload library keeps one for its frozen-size query) or
/// on status.json is not LUO state and does not count, nor is an O_PATH fd
/// of a node (it holds no session, and session node names are reused). One instance is one
/// scan's view: the mounts are read once, when first needed. A scan for
/// display (`status`) has a time budget: thousands of processes with many
/// fds take seconds to read.
/// </summary>
public sealed class EmulatorFdHolders(string mountpoint)
{
    private const string Deleted = " (deleted)";
    private readonly string? _device = MountTable.DeviceOf(mountpoint.TrimEnd('/'));
    private HashSet<int>? _mounts;
    private long _deadline = long.MaxValue;
    private bool _cutOff;

    /// <summary>Node name (the device's or a session's) → the pids holding it.</summary>
    public static Dictionary<string, List<int>> ByNode(string mountpoint) => new EmulatorFdHolders(mountpoint).ByNode();

    /// <summary><see cref="ByNode(string)"/> within <paramref name="budget"/>:
    /// <paramref name="complete"/> is false when time ran out before every
    /// process (and every mount namespace) was looked at.</summary>
    public static Dictionary<string, List<int>> ByNode(string mountpoint, TimeSpan budget, out bool complete)
    {
        var scan = new EmulatorFdHolders(mountpoint) { _deadline = Environment.TickCount64 + (long)budget.TotalMilliseconds };
        Dictionary<string, List<int>> holders = scan.ByNode();
        complete = !scan._cutOff;
        return holders;
    }

    /// <summary>The processes a kexec would end, but for <paramref name="except"/>.</summary>
    public static List<int> Find(string mountpoint, IReadOnlySet<int> except) =>
        ByNode(mountpoint).Values.SelectMany(p => p).Distinct().Where(p => !except.Contains(p)).Order().ToList();

    /// <summary>Process <paramref name="pid"/> holds an fd of the device or of a session now.</summary>
    public bool Holds(int pid) => NodesHeld(pid.ToString(System.Globalization.CultureInfo.InvariantCulture)).Any();

    private Dictionary<string, List<int>> ByNode()
    {
        var holders = new Dictionary<string, List<int>>();
        foreach (string process in ProcFs.Names("/proc"))
        {
            if (!int.TryParse(process, out int pid))
                continue;
            if (OutOfTime())
                break;
            foreach (string node in NodesHeld(process).Distinct())
            {
                if (!holders.TryGetValue(node, out List<int>? pids))
                    holders[node] = pids = [];
                pids.Add(pid);
            }
        }
        return holders;
    }

    private IEnumerable<string> NodesHeld(string pid)
    {
        string fdDirectory = $"/proc/{pid}/fd";
        foreach (string fd in ProcFs.Names(fdDirectory))
        {
            string? target = ProcFs.ReadLink($"{fdDirectory}/{fd}");
            if (target is null || !target.StartsWith('/'))
                continue;
            if (target.EndsWith(Deleted, StringComparison.Ordinal))
                target = target[..^Deleted.Length];
            string node = target[(target.LastIndexOf('/') + 1)..];
            if (node != LuoNodes.DeviceName && !node.StartsWith(Envelope.SessionNodePrefix, StringComparison.Ordinal))
                continue;
            // Only now, for a name that fits, what mount the fd is on.
            if (_device is not null && int.TryParse(fd, out int number) && (_mounts ??= AllMounts(_device)).Contains(MountTable.MountIdOfOpenFile(pid, number)))
                yield return node;
        }
    }

    /// <summary>The ids of every mount of <paramref name="device"/>, in every
    /// mount namespace: one mountinfo read per namespace.</summary>
    private HashSet<int> AllMounts(string device)
    {
        var ids = MountTable.MountIdsOf("self", device);
        var namespaces = new HashSet<string>();
        foreach (string process in ProcFs.Names("/proc"))
        {
            if (OutOfTime())
                break;
            if (int.TryParse(process, out _) && ProcFs.ReadLink($"/proc/{process}/ns/mnt") is { } ns && namespaces.Add(ns))
                ids.UnionWith(MountTable.MountIdsOf(process, device));
        }
        return ids;
    }

    private bool OutOfTime() => _cutOff |= Environment.TickCount64 > _deadline;
}
