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
    public static int MountIdOf(int fd)
    {
        try
        {
            foreach (string line in File.ReadLines($"/proc/self/fdinfo/{fd}"))
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
