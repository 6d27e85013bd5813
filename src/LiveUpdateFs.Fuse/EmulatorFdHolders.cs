using LiveUpdateFs.Interop;

namespace LiveUpdateFs.Fuse;

/// <summary>
/// Which processes hold fds of the emulator's device node or of a session,
/// in every mount namespace (readdir, readlink and fdinfo of /proc/PID/fd,
/// which never ask the FUSE daemon: the daemon itself renders status.json
/// with this). A node is recognised by its name (the last part of the fd's
/// path, which in another namespace may differ before it) and by its mount:
/// the fd's mount id must be one of that process's mounts of this emulator's
/// FUSE device. An fd on the control node alone (the preload library keeps
/// one for its frozen-size query) or on status.json is not LUO state and
/// does not count.
/// </summary>
public static class EmulatorFdHolders
{
    /// <summary>Node name (the device's or a session's) → the pids holding it.</summary>
    public static Dictionary<string, List<int>> ByNode(string mountpoint)
    {
        string? device = MountTable.DeviceOf(mountpoint.TrimEnd('/'));
        var holders = new Dictionary<string, List<int>>();
        foreach (string process in ProcFs.Names("/proc"))
        {
            if (!int.TryParse(process, out int pid))
                continue;
            foreach (string node in LuoNodesHeld(process, device).Distinct())
            {
                if (!holders.TryGetValue(node, out List<int>? pids))
                    holders[node] = pids = [];
                pids.Add(pid);
            }
        }
        return holders;
    }

    /// <summary>The processes a kexec would end, but for <paramref name="except"/>.</summary>
    public static List<int> Find(string mountpoint, IReadOnlySet<int> except) =>
        ByNode(mountpoint).Values.SelectMany(p => p).Distinct().Where(p => !except.Contains(p)).Order().ToList();

    /// <summary>Process <paramref name="pid"/> holds an fd of the device or of a session now.</summary>
    public static bool Holds(int pid, string mountpoint) =>
        LuoNodesHeld(pid.ToString(System.Globalization.CultureInfo.InvariantCulture), MountTable.DeviceOf(mountpoint.TrimEnd('/'))).Any();

    private static IEnumerable<string> LuoNodesHeld(string pid, string? device)
    {
        string fdDirectory = $"/proc/{pid}/fd";
        HashSet<int>? mounts = null;
        foreach (string fd in ProcFs.Names(fdDirectory))
        {
            string? target = ProcFs.ReadLink($"{fdDirectory}/{fd}");
            if (target is null || !target.StartsWith('/'))
                continue;
            string node = target[(target.LastIndexOf('/') + 1)..];
            if (node != LuoNodes.DeviceName && !node.StartsWith(Envelope.SessionNodePrefix, StringComparison.Ordinal))
                continue;
            // Only now, for a name that fits, what mount the fd is on.
            mounts ??= device is null ? [] : MountTable.MountIdsOf(pid, device);
            if (int.TryParse(fd, out int number) && mounts.Contains(MountTable.MountIdOf(pid, number)))
                yield return node;
        }
    }
}
