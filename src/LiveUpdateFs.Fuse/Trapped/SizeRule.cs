using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Interop.Seccomp;

namespace LiveUpdateFs.Fuse.Trapped;

/// <summary>
/// When a trapped ftruncate/fallocate could meet a frozen size (docs/behaviour.md §8.2),
/// by the same rules as the preload library's wrappers: calls whose
/// arguments the kernel refuses first (a negative length, an empty range, a
/// mode tmpfs does not support, PUNCH_HOLE without KEEP_SIZE, an offset
/// overflow) and truncates to the current size are left to the kernel; only
/// unlinked regular tmpfs files (memfds) can be frozen.
/// </summary>
internal static class SizeRule
{
    private const long KeepSize = 0x01;  // FALLOC_FL_KEEP_SIZE
    private const long PunchHole = 0x02; // FALLOC_FL_PUNCH_HOLE

    public static bool MayChange(SeccompNotification call)
    {
        if (call.Syscall == SeccompNotification.SyscallFtruncate)
            return (long)call.Arg1 >= 0;
        long mode = unchecked((int)call.Arg1), offset = (long)call.Arg2, length = (long)call.Arg3;
        if (offset < 0 || length <= 0 || length > long.MaxValue - offset)
            return false;
        if ((mode & ~(KeepSize | PunchHole)) != 0)
            return false;
        return (mode & PunchHole) == 0 || (mode & KeepSize) != 0;
    }

    public static bool Applies(SeccompNotification call, FileFacts facts) =>
        facts.FileSystem == FileSystemKind.Tmpfs && facts.IsRegular && facts.LinkCount == 0
        && !(call.Syscall == SeccompNotification.SyscallFtruncate && (long)call.Arg1 == facts.Size);
}
