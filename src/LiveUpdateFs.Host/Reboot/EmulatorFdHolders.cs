namespace LiveUpdateFs.Host.Reboot;

/// <summary>
/// The processes a kexec would end: those holding an fd of the emulator's
/// device node or of a session. An fd on the control node alone (the preload
/// library keeps one for its frozen-size query) or on status.json does not
/// count: it is not LUO state.
/// </summary>
public static class EmulatorFdHolders
{
    public static List<int> Find(string mountpoint, IReadOnlySet<int> except)
    {
        string prefix = mountpoint.TrimEnd('/') + "/";
        var holders = new List<int>();
        foreach (string process in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(process), out int pid) || except.Contains(pid))
                continue;
            if (HoldsLuoFile(Path.Combine(process, "fd"), prefix))
                holders.Add(pid);
        }
        return holders;
    }

    private static bool HoldsLuoFile(string fdDirectory, string prefix)
    {
        try
        {
            foreach (string fd in Directory.EnumerateFileSystemEntries(fdDirectory))
            {
                string? target = new FileInfo(fd).LinkTarget;
                if (target is null || !target.StartsWith(prefix, StringComparison.Ordinal))
                    continue;
                string node = target[prefix.Length..];
                if (node == Defaults.DeviceNode || node.StartsWith(Fuse.Envelope.SessionNodePrefix, StringComparison.Ordinal))
                    return true;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The process ended while we looked, or is not ours to see.
        }
        return false;
    }
}
