using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Interop;

/// <summary>Process- and mount-level calls the host needs.</summary>
public static class ProcessControl
{
    public static bool IsRoot => Libc.Geteuid() == 0;

    /// <summary>setsid(): a daemon leaves the terminal's session, so Ctrl-C in
    /// the shell that started it does not reach it.</summary>
    public static void DetachFromTerminal() => Libc.Setsid();

    /// <summary>umount2(MNT_DETACH): removes a mount even when files on it are open.</summary>
    public static Errno DetachMount(string path) => Libc.Umount2(path, Libc.MNT_DETACH) == 0 ? Errno.None : Libc.LastErrno;
}
