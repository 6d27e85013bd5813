using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Interop;

/// <summary>Signals sent to processes by pid.</summary>
public static class Signals
{
    /// <summary>kill(pid, SIGTERM): asks a daemon to stop cleanly.</summary>
    public static Errno Terminate(int pid) => Libc.Kill(pid, 15) == 0 ? Errno.None : Libc.LastErrno;

    /// <summary>kill(pid, SIGKILL): ends a process at once, as a kexec ends every process.</summary>
    public static Errno Kill(int pid) => Libc.Kill(pid, 9) == 0 ? Errno.None : Libc.LastErrno;

    /// <summary>SIGKILL to this process (the test-only fault switch's crash).</summary>
    public static void KillSelf() => Libc.Kill(Environment.ProcessId, 9);
}
