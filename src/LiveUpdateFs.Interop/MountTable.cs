namespace LiveUpdateFs.Interop;

/// <summary>
/// Mounts and the mount ids of fds, read from procfs only, fresh on every
/// call: Linux reuses mount ids, so nothing here is cached.
/// </summary>
public static class MountTable
{
    /// <summary>The mount id of fd <paramref name="fd"/> of process <paramref name="pid"/>, or -1 (gone).</summary>
    public static int MountIdOf(string pid, int fd) => MountIdOf(ProcFs.ReadText($"/proc/{pid}/fdinfo/{fd}"));

    /// <summary>The mount id of a file another process holds open for use,
    /// -1 for an O_PATH fd (it reads, writes and asks nothing: a place, not
    /// an open file) or one that cannot be read.</summary>
    public static int MountIdOfOpenFile(string pid, int fd)
    {
        string? info = ProcFs.ReadText($"/proc/{pid}/fdinfo/{fd}");
        // "flags:" is octal; O_PATH is 010000000.
        bool path = info is not null && ProcFs.FieldOf(info, "flags:") is { } flags
            && (Convert.ToInt64(flags, 8) & 0x200000) != 0;
        return path ? -1 : MountIdOf(info);
    }

    private static int MountIdOf(string? info) =>
        info is not null && ProcFs.FieldOf(info, "mnt_id:") is { } id && int.TryParse(id, out int mountId) ? mountId : -1;

    /// <summary>The mount at <paramref name="mountpoint"/> in this process's
    /// namespace (the last one mounted there: it is the one in use), or null.</summary>
    public static MountEntry? At(string mountpoint) => Entries("self").LastOrDefault(e => e.Point == mountpoint);

    /// <summary>The mount that holds <paramref name="path"/> (absolute, symlinks
    /// resolved) in this process's namespace: the one with the longest mount
    /// point that is a prefix of the path (the last one mounted there), or null.</summary>
    public static MountEntry? Holding(string path) => Entries("self")
        .Where(e => path == e.Point || path.StartsWith(e.Point == "/" ? "/" : e.Point + "/", StringComparison.Ordinal))
        .OrderBy(e => e.Point.Length).LastOrDefault();

    /// <summary>The mounts of type <paramref name="fsType"/> in this process's namespace.</summary>
    public static List<MountEntry> OfType(string fsType) => [.. Entries("self").Where(e => e.FsType == fsType)];

    /// <summary>The device ("MAJ:MIN") of the mount at <paramref name="mountpoint"/>
    /// in this process's namespace, or null. A FUSE mount's device is its
    /// connection: every copy of the mount, in any mount namespace, shows it.</summary>
    public static string? DeviceOf(string mountpoint) => At(mountpoint)?.Device;

    /// <summary>The ids of the mounts of <paramref name="device"/> in the mount
    /// namespace of process <paramref name="pid"/> (empty when it is gone).</summary>
    public static HashSet<int> MountIdsOf(string pid, string device) =>
        Entries(pid).Where(e => e.Device == device).Select(e => e.Id).ToHashSet();

    /// <summary>The filesystem type ("fuse.sshfs", "tmpfs") of the mount of
    /// <paramref name="device"/> ("MAJ:MIN") in the namespace of
    /// <paramref name="pid"/>, or null when no mount there has it.</summary>
    public static string? TypeOfDevice(string pid, string device) =>
        Entries(pid).FirstOrDefault(e => e.Device == device)?.FsType;

    /// <summary>The filesystem type of mount <paramref name="id"/> in the
    /// namespace of <paramref name="pid"/>, or null when it is not listed there.</summary>
    public static string? TypeOfMount(string pid, int id) =>
        Entries(pid).FirstOrDefault(e => e.Id == id)?.FsType;

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
}
