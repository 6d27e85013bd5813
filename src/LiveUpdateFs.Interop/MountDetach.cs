using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Interop;

/// <summary>umount2(MNT_DETACH): removes a mount even when files on it are open.</summary>
public static class MountDetach
{
    public static Errno Detach(string path) => Libc.Umount2(path, Libc.MNT_DETACH) == 0 ? Errno.None : Libc.LastErrno;
}
