using System.Runtime.InteropServices;

namespace LiveUpdateFs.Interop;

/// <summary>Calls on names in the file tree: rename, resolve, list a directory, unmount.</summary>
internal static unsafe partial class Libc
{
    public const int MNT_DETACH = 2;

    /// <summary>x86_64 struct dirent64: d_ino 8, d_off 8, d_reclen 2, d_type 1, then d_name.</summary>
    public const int DirentNameOffset = 19;

    [LibraryImport(Lib, EntryPoint = "rename", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Rename(string oldPath, string newPath);

    /// <summary>The resolved path in memory of malloc's: give it back with <see cref="Free"/>.</summary>
    [LibraryImport(Lib, EntryPoint = "realpath", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial nint Realpath(string path, nint resolved);

    [LibraryImport(Lib, EntryPoint = "free")]
    public static partial void Free(nint pointer);

    [LibraryImport(Lib, EntryPoint = "readlink", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial nint Readlink(string path, byte* buffer, nuint size);

    [LibraryImport(Lib, EntryPoint = "opendir", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial nint Opendir(string path);

    /// <summary>struct dirent*, or 0 at the end; d_name at <see cref="DirentNameOffset"/>.</summary>
    [LibraryImport(Lib, EntryPoint = "readdir64", SetLastError = true)]
    public static partial nint Readdir(nint directory);

    [LibraryImport(Lib, EntryPoint = "closedir")]
    public static partial int Closedir(nint directory);

    [LibraryImport(Lib, EntryPoint = "umount2", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Umount2(string target, int flags);
}
