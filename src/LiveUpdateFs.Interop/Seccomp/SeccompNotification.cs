namespace LiveUpdateFs.Interop.Seccomp;

/// <summary>One trapped system call as SECCOMP_IOCTL_NOTIF_RECV reports it
/// (struct seccomp_notif): the calling thread waits until it is answered.</summary>
/// <param name="Id">The notification's cookie: every answer names it.</param>
/// <param name="ThreadId">The calling thread, in the daemon's pid namespace (0: not visible there).</param>
public readonly record struct SeccompNotification(ulong Id, int ThreadId, int Syscall, uint Architecture, ulong Arg0, ulong Arg1, ulong Arg2, ulong Arg3)
{
    public const int SyscallIoctl = 16;
    public const int SyscallFtruncate = 77;
    public const int SyscallFallocate = 285;

    /// <summary>AUDIT_ARCH_X86_64: the filter traps native x86_64 calls only.</summary>
    public const uint ArchitectureX8664 = 0xC000003E;

    /// <summary>The fd argument (ioctl, ftruncate, fallocate): an int in the kernel.</summary>
    public int Fd => unchecked((int)Arg0);

    /// <summary>ioctl's request: an unsigned int in the kernel (upper bits ignored).</summary>
    public uint IoctlRequest => unchecked((uint)Arg1);
}
