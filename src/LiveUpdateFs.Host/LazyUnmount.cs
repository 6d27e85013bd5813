using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Host;

/// <summary>Removes a (dead) mount even with files open on it, as `umount -l`
/// does: `unmount` of a mount whose daemon has ended, and a daemon's start on
/// a mountpoint that still holds one.</summary>
public static class LazyUnmount
{
    /// <summary>How a user who is not root mounts and unmounts FUSE.</summary>
    public const string FuserMount = "/usr/bin/fusermount3";

    /// <summary>umount2 MNT_DETACH as root, `fusermount3 -u -z` for the user who mounted it.</summary>
    public static Errno Detach(string mountpoint)
    {
        Errno detached = MountDetach.Detach(mountpoint);
        if (detached != Errno.EPERM || !File.Exists(FuserMount))
            return detached;
        using var fusermount = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(FuserMount, ["-u", "-z", mountpoint])
        {
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        fusermount.WaitForExit();
        return fusermount.ExitCode == 0 ? Errno.None : Errno.EPERM;
    }
}
