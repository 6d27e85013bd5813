using LiveUpdateFs.Interop;

namespace LiveUpdateFs.Host.Commands;

/// <summary>
/// Which mount `liveupdatefs run` serves when no --mountpoint is given: the
/// one the program will open, i.e. the mount of the node that the device
/// path ($LIVEUPDATE_DEVICE or $LUO_DEVICE, else /dev/liveupdate) resolves to (docs/seccomp.md).
/// Without a device path at all (no link: a daemon not run as root) the
/// default mountpoint is meant.
/// </summary>
public static class DeviceMountpoint
{
    /// <summary>The variables a program may be told its device path with:
    /// the project's C tests and examples read LIVEUPDATE_DEVICE; LUO_DEVICE
    /// is accepted as well.</summary>
    private static readonly string[] DeviceVariables = ["LIVEUPDATE_DEVICE", "LUO_DEVICE"];

    /// <summary>The mountpoint to serve, or null with <paramref name="problem"/> saying why none.</summary>
    public static string? Find(out string? problem)
    {
        problem = null;
        string? variable = DeviceVariables.FirstOrDefault(v => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(v)));
        string devicePath = variable is null ? Defaults.Link : Environment.GetEnvironmentVariable(variable)!;
        if (!Path.Exists(devicePath) && new FileInfo(devicePath).LinkTarget is null)
        {
            if (variable is null)
                return FileOps.RealPath(Defaults.Mountpoint) ?? Defaults.Mountpoint;
            problem = $"{variable} names {devicePath}, which does not exist: start a daemon with `liveupdatefs mount`, or name the mount with --mountpoint DIR";
            return null;
        }
        string? resolved = FileOps.RealPath(devicePath);
        MountEntry? mount = resolved is null ? null : MountTable.Holding(resolved);
        if (mount is { FsType: DaemonMount.FuseType } && resolved == Path.Combine(mount.Point, Defaults.DeviceNode))
            return mount.Point;
        problem = resolved is null
            ? $"{devicePath} is a dangling link: no daemon serves it; start one with `liveupdatefs mount`, or name the mount with --mountpoint DIR"
            : mount is { FsType: DaemonMount.FuseType }
                ? $"{devicePath} resolves to {resolved}, which is not the device node of the liveupdatefs mount {mount.Point}: point it at {Path.Combine(mount.Point, Defaults.DeviceNode)}, or name the mount with --mountpoint DIR"
                : $"{devicePath} resolves to {resolved}, which no liveupdatefs daemon serves (it is on a {mount?.FsType ?? "unknown"} mount; the kernel's own LUO device needs no `run`): "
                  + "start a daemon with `liveupdatefs mount`, or name the mount with --mountpoint DIR";
        return null;
    }
}
