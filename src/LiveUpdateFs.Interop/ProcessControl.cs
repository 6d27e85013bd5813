using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Interop;

/// <summary>Process- and mount-level calls the host needs.</summary>
public static class ProcessControl
{
    public static bool IsRoot => Libc.Geteuid() == 0;

    /// <summary>setsid() and stdin/stdout/stderr on /dev/null: a daemon leaves
    /// the terminal's session (Ctrl-C in the shell does not reach it) and lets
    /// go of the pipes of whoever started it (they would never see EOF).</summary>
    public static void DetachFromTerminal()
    {
        Libc.Setsid();
        int devNull = Libc.Open("/dev/null", Libc.O_RDWR | Libc.O_CLOEXEC, 0);
        if (devNull < 0)
            return;
        for (int fd = 0; fd <= 2; fd++)
            Libc.Dup2(devNull, fd);
        Libc.Close(devNull);
    }

    /// <summary>kill(pid, SIGTERM): asks a daemon to stop cleanly.</summary>
    public static Errno Terminate(int pid) => Libc.Kill(pid, 15) == 0 ? Errno.None : Libc.LastErrno;

    /// <summary>umount2(MNT_DETACH): removes a mount even when files on it are open.</summary>
    public static Errno DetachMount(string path) => Libc.Umount2(path, Libc.MNT_DETACH) == 0 ? Errno.None : Libc.LastErrno;
}
