using System.Runtime.InteropServices;

namespace LiveUpdateFs.Interop;

/// <summary>Calls on file descriptors: open, read and write, copy, stat, fcntl, ioctl.</summary>
internal static unsafe partial class Libc
{
    public const int O_RDONLY = 0x0;
    public const int O_RDWR = 0x2;
    public const int O_ACCMODE = 0x3;
    public const int O_CREAT = 0x40;
    public const int O_EXCL = 0x80;
    public const int O_LARGEFILE = 0x8000;
    public const int O_DIRECTORY = 0x10000;
    public const int O_NOFOLLOW = 0x20000;
    public const int O_CLOEXEC = 0x80000;
    public const int O_PATH = 0x200000;
    public const int F_SETFD = 2;
    public const int F_GETFL = 3;
    public const int FD_CLOEXEC = 1;
    public const int SEEK_SET = 0;
    public const int SEEK_CUR = 1;
    public const int SEEK_DATA = 3;
    public const int SEEK_HOLE = 4;
    public const int S_IFMT = 0xF000;
    public const int S_IFREG = 0x8000;
    public const int AT_FDCWD = -100;
    public const int AT_EMPTY_PATH = 0x1000;
    public const int AT_STATX_DONT_SYNC = 0x4000;

    /// <summary>struct statfs on x86_64 (120 bytes); only the type is read.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct StatFs
    {
        public long Type;
        public fixed long Rest[14];
    }

    [LibraryImport(Lib, EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Open(string path, int flags, uint mode);

    [LibraryImport(Lib, EntryPoint = "openat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Openat(SafeFd directory, string path, int flags, uint mode);

    [LibraryImport(Lib, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport(Lib, EntryPoint = "dup2", SetLastError = true)]
    public static partial int Dup2(int oldFd, int newFd);

    [LibraryImport(Lib, EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, byte* buffer, nuint count);

    [LibraryImport(Lib, EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(SafeFd fd, void* buffer, nuint count);

    [LibraryImport(Lib, EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(SafeFd fd, void* buffer, nuint count);

    [LibraryImport(Lib, EntryPoint = "pread", SetLastError = true)]
    public static partial nint Pread(SafeFd fd, byte* buffer, nuint count, long offset);

    [LibraryImport(Lib, EntryPoint = "pwrite", SetLastError = true)]
    public static partial nint Pwrite(SafeFd fd, byte* buffer, nuint count, long offset);

    [LibraryImport(Lib, EntryPoint = "lseek", SetLastError = true)]
    public static partial long Lseek(SafeFd fd, long offset, int whence);

    [LibraryImport(Lib, EntryPoint = "ftruncate", SetLastError = true)]
    public static partial int Ftruncate(SafeFd fd, long length);

    [LibraryImport(Lib, EntryPoint = "fsync", SetLastError = true)]
    public static partial int Fsync(SafeFd fd);

    [LibraryImport(Lib, EntryPoint = "sendfile", SetLastError = true)]
    public static partial nint Sendfile(SafeFd output, SafeFd input, long* inputOffset, nuint count);

    [LibraryImport(Lib, EntryPoint = "copy_file_range", SetLastError = true)]
    public static partial nint CopyFileRange(SafeFd input, long* inputOffset, SafeFd output, long* outputOffset, nuint length, uint flags);

    [LibraryImport(Lib, EntryPoint = "fstat", SetLastError = true)]
    public static partial int Fstat(SafeFd fd, out KernelStat stat);

    [LibraryImport(Lib, EntryPoint = "fstatfs", SetLastError = true)]
    public static partial int Fstatfs(SafeFd fd, out StatFs stat);

    /// <summary>statx(2) into a 256-byte struct statx.</summary>
    [LibraryImport(Lib, EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Statx(SafeFd dirfd, string path, int flags, uint mask, byte* buffer);

    /// <summary>statx(2) of a path (<see cref="AT_FDCWD"/>).</summary>
    [LibraryImport(Lib, EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport(Lib, EntryPoint = "fcntl", SetLastError = true)]
    public static partial int Fcntl(SafeFd fd, int command, int argument);

    [LibraryImport(Lib, EntryPoint = "fcntl", SetLastError = true)]
    public static partial int Fcntl(int fd, int command, int argument);

    [LibraryImport(Lib, EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(SafeFd fd, ulong request, byte* argument);

    [LibraryImport(Lib, EntryPoint = "isatty")]
    public static partial int Isatty(int fd);
}
