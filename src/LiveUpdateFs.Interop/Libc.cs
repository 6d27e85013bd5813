using System.Runtime.InteropServices;

namespace LiveUpdateFs.Interop;

/// <summary>
/// Every libc call of the daemon and the store, in one place. Callers turn a -1 into an
/// <see cref="Uapi.Errno"/> with <see cref="LastErrno"/> at once; nothing
/// here throws.
/// </summary>
internal static unsafe partial class Libc
{
    private const string Lib = "libc.so.6";

    public const int O_RDWR = 0x2;
    public const int O_CLOEXEC = 0x80000;
    public const int O_LARGEFILE = 0x8000;
    public const int F_GETFD = 1;
    public const int F_SETFD = 2;
    public const int FD_CLOEXEC = 1;
    public const int O_PATH = 0x200000;
    public const int F_GETFL = 3;
    public const int PIDFD_THREAD = 0x80; // O_EXCL
    public const short POLLIN = 0x1;
    public const int MNT_DETACH = 2;
    public const int S_IFMT = 0xF000;
    public const int S_IFREG = 0x8000;

    public const int O_RDONLY = 0x0;
    public const int O_CREAT = 0x40;
    public const int O_EXCL = 0x80;
    public const int O_DIRECTORY = 0x10000;
    public const int O_NOFOLLOW = 0x20000;
    public const int SEEK_SET = 0;
    public const int SEEK_CUR = 1;
    public const int SEEK_DATA = 3;
    public const int SEEK_HOLE = 4;
    public const int F_ADD_SEALS = 1033;
    public const int F_GET_SEALS = 1034;
    public const uint MFD_CLOEXEC = 0x1;
    public const uint MFD_ALLOW_SEALING = 0x2;
    public const int ENXIO = 6;
    public const int EXDEV = 18;
    public const int EINVAL = 22;
    public const int ENOSYS = 38;
    public const int EOPNOTSUPP = 95;
    public const int SIGCONT = 18;
    public const int SIGSTOP = 19;

    public static Uapi.Errno LastErrno => new(Marshal.GetLastPInvokeError());

    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public void* Base;
        public nuint Length;
    }

    /// <summary>struct statfs on x86_64 (120 bytes); only the type is read.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct StatFs
    {
        public long Type;
        public fixed long Rest[14];
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport(Lib, EntryPoint = "process_vm_readv", SetLastError = true)]
    public static partial nint ProcessVmReadv(int pid, IoVec* local, nuint localCount, IoVec* remote, nuint remoteCount, nuint flags);

    /// <summary>process_vm_readv/writev for the per-request copies of
    /// <see cref="CallerProcess"/>, which need only the byte count: without
    /// SetLastError the stub neither clears errno before the call nor saves
    /// it after (two calls into the runtime per copy).</summary>
    [LibraryImport(Lib, EntryPoint = "process_vm_readv")]
    public static partial nint ProcessVmReadvNoErrno(int pid, IoVec* local, nuint localCount, IoVec* remote, nuint remoteCount, nuint flags);

    /// <inheritdoc cref="ProcessVmReadvNoErrno"/>
    [LibraryImport(Lib, EntryPoint = "process_vm_writev")]
    public static partial nint ProcessVmWritevNoErrno(int pid, IoVec* local, nuint localCount, IoVec* remote, nuint remoteCount, nuint flags);

    [LibraryImport(Lib, EntryPoint = "pidfd_open", SetLastError = true)]
    public static partial int PidfdOpen(int pid, uint flags);

    [LibraryImport(Lib, EntryPoint = "pidfd_send_signal", SetLastError = true)]
    public static partial int PidfdSendSignal(SafeFd pidfd, int signal, nint info, uint flags);

    [LibraryImport(Lib, EntryPoint = "pidfd_getfd", SetLastError = true)]
    public static partial int PidfdGetfd(SafeFd pidfd, int targetFd, uint flags);

    [LibraryImport(Lib, EntryPoint = "fstat", SetLastError = true)]
    public static partial int Fstat(SafeFd fd, out KernelStat stat);

    [LibraryImport(Lib, EntryPoint = "fstatfs", SetLastError = true)]
    public static partial int Fstatfs(SafeFd fd, out StatFs stat);

    public const int AT_EMPTY_PATH = 0x1000;
    public const int AT_STATX_DONT_SYNC = 0x4000;

    /// <summary>statx(2) into a 256-byte struct statx.</summary>
    [LibraryImport(Lib, EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Statx(SafeFd dirfd, string path, int flags, uint mask, byte* buffer);

    public const int AT_FDCWD = -100;

    /// <summary>statx(2) of a path (<see cref="AT_FDCWD"/>).</summary>
    [LibraryImport(Lib, EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport(Lib, EntryPoint = "fcntl", SetLastError = true)]
    public static partial int Fcntl(SafeFd fd, int command, int argument);

    [LibraryImport(Lib, EntryPoint = "execve", SetLastError = true)]
    public static partial int Execve(byte* path, byte** argv, byte** envp);

    [LibraryImport(Lib, EntryPoint = "fcntl", SetLastError = true)]
    public static partial int Fcntl(int fd, int command, int argument);

    [LibraryImport(Lib, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport(Lib, EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, byte* buffer, nuint count);

    [LibraryImport(Lib, EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(SafeFd fd, void* buffer, nuint count);

    [LibraryImport(Lib, EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(SafeFd fd, void* buffer, nuint count);

    public const uint EFD_CLOEXEC = 0x80000;
    public const uint EFD_NONBLOCK = 0x800;

    [LibraryImport(Lib, EntryPoint = "eventfd", SetLastError = true)]
    public static partial int Eventfd(uint initial, uint flags);

    [LibraryImport(Lib, EntryPoint = "poll", SetLastError = true)]
    public static partial int Poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport(Lib, EntryPoint = "umount2", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Umount2(string target, int flags);

    [LibraryImport(Lib, EntryPoint = "geteuid")]
    public static partial uint Geteuid();

    [LibraryImport(Lib, EntryPoint = "getgrnam", StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint Getgrnam(string name);

    [LibraryImport(Lib, EntryPoint = "getegid")]
    public static partial uint Getegid();

    [LibraryImport(Lib, EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Open(string path, int flags, uint mode);

    [LibraryImport(Lib, EntryPoint = "openat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Openat(SafeFd directory, string path, int flags, uint mode);

    public const int O_ACCMODE = 0x3;

    [LibraryImport(Lib, EntryPoint = "dup2", SetLastError = true)]
    public static partial int Dup2(int oldFd, int newFd);

    [LibraryImport(Lib, EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);

    [LibraryImport(Lib, EntryPoint = "setsid", SetLastError = true)]
    public static partial int Setsid();

    [LibraryImport(Lib, EntryPoint = "memfd_create", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int MemfdCreate(string name, uint flags);

    [LibraryImport(Lib, EntryPoint = "rename", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Rename(string oldPath, string newPath);

    [LibraryImport(Lib, EntryPoint = "lseek", SetLastError = true)]
    public static partial long Lseek(SafeFd fd, long offset, int whence);

    [LibraryImport(Lib, EntryPoint = "ftruncate", SetLastError = true)]
    public static partial int Ftruncate(SafeFd fd, long length);

    [LibraryImport(Lib, EntryPoint = "fsync", SetLastError = true)]
    public static partial int Fsync(SafeFd fd);

    [LibraryImport(Lib, EntryPoint = "pread", SetLastError = true)]
    public static partial nint Pread(SafeFd fd, byte* buffer, nuint count, long offset);

    [LibraryImport(Lib, EntryPoint = "pwrite", SetLastError = true)]
    public static partial nint Pwrite(SafeFd fd, byte* buffer, nuint count, long offset);

    [LibraryImport(Lib, EntryPoint = "sendfile", SetLastError = true)]
    public static partial nint Sendfile(SafeFd output, SafeFd input, long* inputOffset, nuint count);

    [LibraryImport(Lib, EntryPoint = "copy_file_range", SetLastError = true)]
    public static partial nint CopyFileRange(SafeFd input, long* inputOffset, SafeFd output, long* outputOffset, nuint length, uint flags);

    [LibraryImport(Lib, EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(SafeFd fd, ulong request, byte* argument);

    [LibraryImport(Lib, EntryPoint = "isatty")]
    public static partial int Isatty(int fd);

    [LibraryImport(Lib, EntryPoint = "realpath", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial nint Realpath(string path, nint resolved);

    [LibraryImport(Lib, EntryPoint = "free")]
    public static partial void Free(nint pointer);

    [LibraryImport(Lib, EntryPoint = "opendir", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial nint Opendir(string path);

    /// <summary>struct dirent*, or 0 at the end; d_name at <see cref="DirentNameOffset"/>.</summary>
    [LibraryImport(Lib, EntryPoint = "readdir64", SetLastError = true)]
    public static partial nint Readdir(nint directory);

    [LibraryImport(Lib, EntryPoint = "closedir")]
    public static partial int Closedir(nint directory);

    /// <summary>x86_64 struct dirent64: d_ino 8, d_off 8, d_reclen 2, d_type 1, then d_name.</summary>
    public const int DirentNameOffset = 19;

    /// <summary>syscall(2) for calls glibc has no wrapper of (seccomp).</summary>
    [LibraryImport(Lib, EntryPoint = "syscall", SetLastError = true)]
    public static partial long Syscall(long number, long a, long b, nint c);

    [LibraryImport(Lib, EntryPoint = "syscall", SetLastError = true)]
    public static partial long Syscall(long number, long a, long b, long c, long d, long e);

    [LibraryImport(Lib, EntryPoint = "prctl", SetLastError = true)]
    public static partial int Prctl(int option, ulong a, ulong b, ulong c, ulong d);

    [LibraryImport(Lib, EntryPoint = "readlink", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial nint Readlink(string path, byte* buffer, nuint size);
}
