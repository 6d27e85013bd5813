namespace LiveUpdateFs.Interop;

/// <summary>
/// Mounts and the mount ids of fds, read from procfs only, fresh on every
/// call: Linux reuses mount ids, so nothing here is cached.
/// </summary>
public static class MountTable
{
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

    /// <summary>The device ("MAJ:MIN") of the mount at <paramref name="mountpoint"/>
    /// in this process's namespace, or null. A FUSE mount's device is its
    /// connection: every copy of the mount, in any mount namespace, shows it.</summary>
    public static string? DeviceOf(string mountpoint)
    {
        string? device = null;
        foreach (string[] fields in Entries("self"))
        {
            if (fields[4] == mountpoint)
                device = fields[2]; // the last one mounted there is the one in use
        }
        return device;
    }

    /// <summary>The ids of the mounts of <paramref name="device"/> in the mount
    /// namespace of process <paramref name="pid"/> (empty when it is gone).</summary>
    public static HashSet<int> MountIdsOf(string pid, string device)
    {
        var ids = new HashSet<int>();
        foreach (string[] fields in Entries(pid))
        {
            if (fields[2] == device && int.TryParse(fields[0], out int id))
                ids.Add(id);
        }
        return ids;
    }

    /// <summary>The filesystem type ("fuse.sshfs", "tmpfs") of the mount of
    /// <paramref name="device"/> ("MAJ:MIN") in the namespace of
    /// <paramref name="pid"/>, or null when no mount there has it.</summary>
    public static string? TypeOfDevice(string pid, string device)
    {
        foreach (string[] fields in Entries(pid))
        {
            int separator = Array.IndexOf(fields, "-");
            if (fields[2] == device && separator > 0 && separator + 1 < fields.Length)
                return fields[separator + 1];
        }
        return null;
    }

    private static IEnumerable<string[]> Entries(string pid)
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
            string[] fields = line.Split(' ');
            if (fields.Length > 4)
                yield return fields;
        }
    }
}
