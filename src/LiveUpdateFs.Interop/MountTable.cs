namespace LiveUpdateFs.Interop;

/// <summary>
/// Which filesystem type a file descriptor's mount has, read from procfs
/// only. The daemon must never fstat() a file of a FUSE mount: if the mount
/// is its own, the request would wait for the very thread that sent it.
/// </summary>
public static class MountTable
{
    private static readonly object Lock = new();
    private const string InternalMount = "(internal)";
    private static Dictionary<int, string> _types = [];

    /// <summary>The mount id of one of this process's fds (fdinfo "mnt_id"), or -1.</summary>
    public static int MountIdOf(int fd) => MountIdOf("self", fd);

    /// <summary>The mount id of fd <paramref name="fd"/> of process <paramref name="pid"/>, or -1 (gone).</summary>
    public static int MountIdOf(string pid, int fd)
    {
        try
        {
            foreach (string line in File.ReadLines($"/proc/{pid}/fdinfo/{fd}"))
            {
                if (line.StartsWith("mnt_id:", StringComparison.Ordinal))
                    return int.Parse(line.AsSpan(7).Trim());
            }
        }
        catch (IOException)
        {
        }
        return -1;
    }

    /// <summary>True when the fd lives on a FUSE mount (ours or anyone's).
    /// Internal mounts (memfd's shm, pipes, sockets) are not listed and are never FUSE.</summary>
    public static bool IsOnFuse(int fd)
    {
        int id = MountIdOf(fd);
        if (id < 0)
            return false;
        lock (Lock)
        {
            if (!_types.TryGetValue(id, out string? type))
            {
                _types = ReadTypes();
                // Still unknown: an internal kernel mount (memfds, pipes), which
                // lives as long as the kernel; remember it so it costs one read.
                type = _types.GetValueOrDefault(id, InternalMount);
                _types[id] = type;
            }
            return type.StartsWith("fuse", StringComparison.Ordinal);
        }
    }

    /// <summary>The mount at <paramref name="mountpoint"/> in this process's
    /// namespace (the last one mounted there: it is the one in use), or null.</summary>
    public static MountEntry? At(string mountpoint) => Entries("self").LastOrDefault(e => e.Point == mountpoint);

    /// <summary>The device ("MAJ:MIN") of the mount at <paramref name="mountpoint"/>
    /// in this process's namespace, or null. A FUSE mount's device is its
    /// connection: every copy of the mount, in any mount namespace, shows it.</summary>
    public static string? DeviceOf(string mountpoint) => At(mountpoint)?.Device;

    /// <summary>The ids of the mounts of <paramref name="device"/> in the mount
    /// namespace of process <paramref name="pid"/> (empty when it is gone).</summary>
    public static HashSet<int> MountIdsOf(string pid, string device) =>
        Entries(pid).Where(e => e.Device == device).Select(e => e.Id).ToHashSet();

    private static IEnumerable<MountEntry> Entries(string pid)
    {
        List<string> lines;
        try
        {
            lines = File.ReadLines($"/proc/{pid}/mountinfo").ToList();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            yield break;
        }
        foreach (string line in lines)
        {
            if (MountEntry.Parse(line) is { } entry)
                yield return entry;
        }
    }

    /// <summary>mountinfo: "ID PARENT MAJ:MIN ROOT POINT OPTS [TAGS...] - FSTYPE SOURCE SUPER".</summary>
    private static Dictionary<int, string> ReadTypes()
    {
        var types = new Dictionary<int, string>();
        foreach (string line in File.ReadLines("/proc/self/mountinfo"))
        {
            string[] fields = line.Split(' ');
            int separator = Array.IndexOf(fields, "-");
            if (separator > 0 && separator + 1 < fields.Length && int.TryParse(fields[0], out int id))
                types[id] = fields[separator + 1];
        }
        return types;
    }
}
