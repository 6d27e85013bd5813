using System.Runtime.InteropServices;

namespace LiveUpdateFs.Interop;

/// <summary>Calls on processes: pidfds, signals, exec, session, ids, prctl.</summary>
internal static unsafe partial class Libc
{
    public const int PIDFD_THREAD = 0x80; // O_EXCL
    public const int SIGCONT = 18;
    public const int SIGSTOP = 19;

    [LibraryImport(Lib, EntryPoint = "pidfd_open", SetLastError = true)]
    public static partial int PidfdOpen(int pid, uint flags);

    [LibraryImport(Lib, EntryPoint = "pidfd_send_signal", SetLastError = true)]
    public static partial int PidfdSendSignal(SafeFd pidfd, int signal, nint info, uint flags);

    [LibraryImport(Lib, EntryPoint = "pidfd_getfd", SetLastError = true)]
    public static partial int PidfdGetfd(SafeFd pidfd, int targetFd, uint flags);

    [LibraryImport(Lib, EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);

    [LibraryImport(Lib, EntryPoint = "execve", SetLastError = true)]
    public static partial int Execve(byte* path, byte** argv, byte** envp);

    [LibraryImport(Lib, EntryPoint = "setsid", SetLastError = true)]
    public static partial int Setsid();

    [LibraryImport(Lib, EntryPoint = "gettid")]
    public static partial int Gettid();

    [LibraryImport(Lib, EntryPoint = "geteuid")]
    public static partial uint Geteuid();

    [LibraryImport(Lib, EntryPoint = "getegid")]
    public static partial uint Getegid();

    [LibraryImport(Lib, EntryPoint = "getgrnam", StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint Getgrnam(string name);

    [LibraryImport(Lib, EntryPoint = "prctl", SetLastError = true)]
    public static partial int Prctl(int option, ulong a, ulong b, ulong c, ulong d);
}
