namespace LiveUpdateFs.Fuse;

/// <summary>What status.json tells about the daemon itself.</summary>
/// <param name="Mountpoint">Where it is mounted (to find the fd holders); null: unknown.</param>
/// <param name="Supervised">A supervisor (systemd) restarts the daemon after a reboot's freeze.</param>
/// <param name="Boot">Names this boot (this instance of the daemon); an in-place reboot keeps the pid and changes it.</param>
public sealed record DaemonFacts(string? Mountpoint, bool Supervised, string Boot)
{
    public static readonly DaemonFacts Unknown = new(null, false, "");
}
