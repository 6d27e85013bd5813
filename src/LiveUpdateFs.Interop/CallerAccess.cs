using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Interop;

/// <summary>Whether the daemon may read its callers' memory and take their
/// fds (process_vm_readv, pidfd_getfd: ptrace access), and how a caller lets it.</summary>
public static unsafe class CallerAccess
{
    /// <summary>
    /// Whether this process may use the calls the daemon needs on its callers
    /// (process_vm_readv, pidfd_getfd), tried on itself. Docker's default
    /// seccomp profile refuses them (EPERM) unless the container has
    /// CAP_SYS_PTRACE. Returns the failing call and its errno, or null.
    /// </summary>
    public static string? ProblemOnSelf()
    {
        long probe = 0x1234;
        long copy = 0;
        var local = new Libc.IoVec { Base = &copy, Length = sizeof(long) };
        var remote = new Libc.IoVec { Base = &probe, Length = sizeof(long) };
        if (Libc.ProcessVmReadv(Environment.ProcessId, &local, 1, &remote, 1, 0) != sizeof(long))
            return $"process_vm_readv: {Libc.LastErrno.Name}";
        using var self = new SafeFd(Libc.PidfdOpen(Environment.ProcessId, 0));
        if (self.IsInvalid)
            return $"pidfd_open: {Libc.LastErrno.Name}";
        using var stdin = new SafeFd(Libc.PidfdGetfd(self, 0, 0));
        return stdin.IsInvalid && Libc.LastErrno != Errno.EBADF ? $"pidfd_getfd: {Libc.LastErrno.Name}" : null;
    }

    private const int PrSetPtracer = 0x59616d61;

    /// <summary>Names <paramref name="tracer"/> as this process's ptracer
    /// (Yama's PR_SET_PTRACER): where ptrace_scope is 1, a non-root daemon
    /// can read a process's memory only then. Kept across execve; a fork's
    /// child does not inherit it.</summary>
    public static Errno AllowTracer(int tracer) =>
        Libc.Prctl(PrSetPtracer, (ulong)tracer, 0, 0, 0) == 0 ? Errno.None : Libc.LastErrno;

    /// <summary>Yama's ptrace_scope (0-3), or -1 without Yama.</summary>
    public static int YamaPtraceScope() =>
        int.TryParse(ProcFs.ReadText("/proc/sys/kernel/yama/ptrace_scope")?.Trim(), out int scope) ? scope : -1;
}
