namespace LiveUpdateFs.Core.Files;

/// <summary>Which filesystem a file lives on, as far as handlers care.</summary>
public enum FileSystemKind
{
    Other,
    Tmpfs,
    Hugetlbfs,
}

/// <summary>The identity LUO keys its global preserved-file table by: for a
/// memfd, its inode.</summary>
public readonly record struct FileIdentity(ulong Device, ulong Inode);

/// <summary>What the daemon learned about a caller's file when it took its
/// own reference (fstat, fstatfs, F_GET_SEALS). For a preserved file these
/// are the values recorded at preserve time (spec §8.2: size and seals).</summary>
public readonly record struct FileFacts(FileSystemKind FileSystem, bool IsRegular, ulong LinkCount, FileIdentity Identity, long Size,
    int Seals = 0);

/// <summary>The daemon's own reference to an open file description (LUO's
/// reference in the kernel). Disposing it drops the reference.</summary>
public interface IHeldFile : IDisposable
{
    FileFacts Facts { get; }
}

/// <summary>The files of the process that made a request.</summary>
public interface ICallerFiles
{
    /// <summary>fget(fd) in the caller: EBADF for a closed, invalid or O_PATH fd.</summary>
    Uapi.Errno Take(int fd, out IHeldFile? file);
}
