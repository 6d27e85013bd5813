using LiveUpdateFs.Interop;

namespace LiveUpdateFs.Fuse;

/// <summary>
/// Which processes hold fds of the emulator's device node or of a session
/// (readdir and readlink of /proc/PID/fd, which never ask the FUSE daemon:
/// the daemon itself renders status.json with this). An fd on the
/// control node alone (the preload library keeps one for its frozen-size
/// query) or on status.json is not LUO state and does not count.
/// </summary>
public static class EmulatorFdHolders
{
    /// <summary>Node name (the device's or a session's) → the pids holding it.</summary>
    public static Dictionary<string, List<int>> ByNode(string mountpoint)
    {
        string prefix = mountpoint.TrimEnd('/') + "/";
        var holders = new Dictionary<string, List<int>>();
        foreach (string process in ProcFs.Names("/proc"))
        {
            if (!int.TryParse(process, out int pid))
                continue;
            foreach (string node in LuoNodesHeld($"/proc/{pid}/fd", prefix))
            {
                if (!holders.TryGetValue(node, out List<int>? pids))
                    holders[node] = pids = [];
                if (!pids.Contains(pid))
                    pids.Add(pid);
            }
        }
        return holders;
    }

    /// <summary>The processes a kexec would end, but for <paramref name="except"/>.</summary>
    public static List<int> Find(string mountpoint, IReadOnlySet<int> except) =>
        ByNode(mountpoint).Values.SelectMany(p => p).Distinct().Where(p => !except.Contains(p)).Order().ToList();

    /// <summary>Process <paramref name="pid"/> holds an fd of the device or of a session.</summary>
    public static bool Holds(int pid, string mountpoint) =>
        LuoNodesHeld($"/proc/{pid}/fd", mountpoint.TrimEnd('/') + "/").Any();

    private static IEnumerable<string> LuoNodesHeld(string fdDirectory, string prefix)
    {
        foreach (string fd in ProcFs.Names(fdDirectory))
        {
            string? target = ProcFs.ReadLink($"{fdDirectory}/{fd}");
            if (target is null || !target.StartsWith(prefix, StringComparison.Ordinal))
                continue;
            string node = target[prefix.Length..];
            if (node == LuoNodes.DeviceName || node.StartsWith(Envelope.SessionNodePrefix, StringComparison.Ordinal))
                yield return node;
        }
    }
}
