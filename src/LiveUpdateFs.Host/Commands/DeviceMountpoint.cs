using LiveUpdateFs.Interop;

namespace LiveUpdateFs.Host.Commands;

/// <summary>
/// Which mount `liveupdatefs run` serves when no --mountpoint is given: the
/// one the program will open, i.e. the mount of the node that the device
/// path ($LIVEUPDATE_DEVICE or $LUO_DEVICE, else /dev/liveupdate) resolves to
/// (docs/seccomp.md §1). Without a device path at all (no link: a daemon not
/// run as root) the default mountpoint is meant.
/// </summary>
public static class DeviceMountpoint
{
    /// <summary>The variables a program may be told its device path with:
    /// the project's C tests and examples read LIVEUPDATE_DEVICE; LUO_DEVICE
    /// is taken as well, for programs that read that one instead.</summary>
    private static readonly string[] DeviceVariables = ["LIVEUPDATE_DEVICE", "LUO_DEVICE"];

    /// <summary>Links followed before giving up, as the kernel's path walk (ELOOP).</summary>
    private const int MaxLinks = 40;

    /// <summary>
    /// The mountpoint to serve, or null with <paramref name="problem"/> saying
    /// why none. The links are followed one by one and the device node itself
    /// is never looked up: a stopped or hung daemon would not answer, and
    /// the bounded look of <see cref="DaemonMount.At"/> comes afterwards.
    /// </summary>
    public static string? Find(out string? problem)
    {
        problem = null;
        string? variable = DeviceVariables.FirstOrDefault(v => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(v)));
        string devicePath = variable is null ? Defaults.Link : Environment.GetEnvironmentVariable(variable)!;
        List<MountEntry> served = MountTable.OfType(DaemonMount.FuseType);
        string path = Path.GetFullPath(devicePath);
        for (int hop = 0; hop <= MaxLinks; hop++)
        {
            string? directory = FileOps.RealPath(Path.GetDirectoryName(path) ?? "/");
            string node = directory is null ? path : Path.Combine(directory, Path.GetFileName(path));
            if (served.FirstOrDefault(m => Path.Combine(m.Point, Defaults.DeviceNode) == node) is { } mount)
                return mount.Point;
            if (directory is not null && new FileInfo(node).LinkTarget is { } target)
            {
                path = Path.GetFullPath(target, directory);
                continue;
            }
            if (directory is null || !Path.Exists(node))
            {
                if (hop == 0 && variable is null)
                    return FileOps.RealPath(Defaults.Mountpoint) ?? Defaults.Mountpoint;
                problem = hop == 0
                    ? $"{variable} names {devicePath}, which does not exist"
                    : $"{devicePath} is a dangling link (it leads to {node}, which does not exist): no daemon serves it";
            }
            else
            {
                problem = $"{devicePath} resolves to {node}, which no liveupdatefs daemon serves (it is on a {MountTable.Holding(node)?.FsType ?? "unknown"} mount; "
                    + "the kernel's own LUO device needs no `run`)";
            }
            problem += "; start a daemon with `liveupdatefs mount`, or name the mount with --mountpoint DIR";
            return null;
        }
        problem = $"{devicePath} leads through more than {MaxLinks} links (a loop?); name the mount with --mountpoint DIR";
        return null;
    }
}
