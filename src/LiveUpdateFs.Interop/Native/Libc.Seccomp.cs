using System.Runtime.InteropServices;

namespace LiveUpdateFs.Interop;

/// <summary>syscall(2), for the calls of the seccomp listener glibc has no
/// wrapper of: seccomp(2) and kcmp(2).</summary>
internal static partial class Libc
{
    [LibraryImport(Lib, EntryPoint = "syscall", SetLastError = true)]
    public static partial long Syscall(long number, long a, long b, nint c);

    [LibraryImport(Lib, EntryPoint = "syscall", SetLastError = true)]
    public static partial long Syscall(long number, long a, long b, long c, long d, long e);
}
