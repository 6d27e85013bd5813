using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Interop;

/// <summary>The file calls of the persistence store: private creates, exact
/// reads and writes, kernel-side copies, fsync and atomic rename.</summary>
public static unsafe class FileOps
{
    private const uint PrivateFileMode = 0x180; // 0600

    /// <summary>Creates a new file 0600; fails with EEXIST rather than reuse
    /// one, and never follows a symlink planted in the store.</summary>
    public static (Errno Error, SafeFd? Fd) CreateExclusive(string path) =>
        Wrap(Libc.Open(path, Libc.O_RDWR | Libc.O_CREAT | Libc.O_EXCL | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, PrivateFileMode));

    public static (Errno Error, SafeFd? Fd) OpenRead(string path) =>
        Wrap(Libc.Open(path, Libc.O_RDONLY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0));

    /// <summary>A directory fd, only to fsync the directory's entries.</summary>
    public static (Errno Error, SafeFd? Fd) OpenDirectory(string path) =>
        Wrap(Libc.Open(path, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0));

    /// <summary>An O_PATH fd of a directory (no open of the file system's own), or null.</summary>
    public static SafeFd? OpenPath(string path)
    {
        (Errno error, SafeFd? fd) = Wrap(Libc.Open(path, Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0));
        return error.IsError ? null : fd;
    }

    /// <summary>openat(2) of <paramref name="name"/> in <paramref name="directory"/>,
    /// close-on-exec, with the access mode (<see cref="AccessMode"/>) of another file.</summary>
    public static Errno OpenAt(SafeFd directory, string name, int accessMode, out SafeFd? fd)
    {
        (Errno error, fd) = Wrap(Libc.Openat(directory, name, (accessMode & Libc.O_ACCMODE) | Libc.O_CLOEXEC, 0));
        return error;
    }

    /// <summary>Whether <paramref name="name"/> exists in <paramref name="directory"/> (a stat that asks the file system).</summary>
    public static bool Exists(SafeFd directory, string name)
    {
        byte* statx = stackalloc byte[256];
        return Libc.Statx(directory, name, 0, 0, statx) == 0;
    }

    /// <summary>O_RDONLY (0), O_WRONLY (1) or O_RDWR (2) of an open file; O_RDONLY if fcntl fails.</summary>
    public static int AccessMode(SafeFd fd) => Libc.Fcntl(fd, Libc.F_GETFL, 0) is var flags and >= 0 ? flags & Libc.O_ACCMODE : Libc.O_RDONLY;

    public const int OPath = Libc.O_PATH;
    public const int AccessModeMask = Libc.O_ACCMODE;

    /// <summary>F_GETFL of an open file (O_PATH, the access mode...), or -1.</summary>
    public static int StatusFlags(SafeFd fd) => Libc.Fcntl(fd, Libc.F_GETFL, 0);

    /// <summary>realpath(3): absolute, with every symlink resolved; null when it fails.</summary>
    public static string? RealPath(string path)
    {
        nint resolved = Libc.Realpath(path, 0);
        if (resolved == 0)
            return null;
        try
        {
            return System.Runtime.InteropServices.Marshal.PtrToStringUTF8(resolved);
        }
        finally
        {
            Libc.Free(resolved);
        }
    }

    public static Errno Fsync(SafeFd fd) => Libc.Fsync(fd) < 0 ? Libc.LastErrno : Errno.None;

    /// <summary>fsync of a directory by path: makes its entries (creates,
    /// renames) durable.</summary>
    public static Errno FsyncDirectory(string path)
    {
        var (error, fd) = OpenDirectory(path);
        if (error.IsError)
            return error;
        using (fd)
            return Fsync(fd!);
    }

    /// <summary>rename(2): atomic replacement of <paramref name="newPath"/>.</summary>
    public static Errno Rename(string oldPath, string newPath) =>
        Libc.Rename(oldPath, newPath) < 0 ? Libc.LastErrno : Errno.None;

    /// <summary>Writes all of <paramref name="data"/> at <paramref name="offset"/> (retries short writes and EINTR).</summary>
    public static Errno WriteAll(SafeFd fd, ReadOnlySpan<byte> data, long offset)
    {
        fixed (byte* start = data)
        {
            int done = 0;
            while (done < data.Length)
            {
                nint n = Libc.Pwrite(fd, start + done, (nuint)(data.Length - done), offset + done);
                if (n < 0)
                {
                    Errno error = Libc.LastErrno;
                    if (error == Errno.EINTR)
                        continue;
                    return error;
                }
                done += (int)n;
            }
        }
        return Errno.None;
    }

    /// <summary>The whole content of a file read from its current position with
    /// read(2) (a stream or a node that cannot seek, such as the daemon's status.json).</summary>
    public static (Errno Error, byte[] Content) ReadToEnd(SafeFd fd)
    {
        using var content = new MemoryStream();
        byte[] chunk = new byte[64 << 10];
        fixed (byte* buffer = chunk)
        {
            while (true)
            {
                nint got = Libc.Read(fd, buffer, (nuint)chunk.Length);
                if (got < 0 && Libc.LastErrno != Errno.EINTR)
                    return (Libc.LastErrno, []);
                if (got == 0)
                    return (Errno.None, content.ToArray());
                if (got > 0)
                    content.Write(chunk, 0, (int)got);
            }
        }
    }

    /// <summary>Reads up to buffer.Length bytes at <paramref name="offset"/>;
    /// fewer only at end of file. Returns the count read.</summary>
    public static (Errno Error, int Read) ReadFull(SafeFd fd, Span<byte> buffer, long offset)
    {
        fixed (byte* start = buffer)
        {
            int done = 0;
            while (done < buffer.Length)
            {
                nint n = Libc.Pread(fd, start + done, (nuint)(buffer.Length - done), offset + done);
                if (n < 0)
                {
                    Errno error = Libc.LastErrno;
                    if (error == Errno.EINTR)
                        continue;
                    return (error, done);
                }
                if (n == 0)
                    break;
                done += (int)n;
            }
            return (Errno.None, done);
        }
    }

    /// <summary>
    /// Copies <paramref name="length"/> bytes, kernel-side where possible:
    /// copy_file_range (same file system only: between a memfd and a disk
    /// file it gives EXDEV), else sendfile (works across file systems; moves
    /// <paramref name="target"/>'s file position, never the source's), else
    /// pread/pwrite through <paramref name="bounce"/>. Returns the bytes
    /// copied: fewer than asked means the source ended early.
    /// </summary>
    public static (Errno Error, long Copied) CopyRange(SafeFd source, long sourceOffset, SafeFd target, long targetOffset, long length, Span<byte> bounce)
    {
        long copied = 0;
        var method = CopyMethod.CopyFileRange;
        while (copied < length)
        {
            long inOffset = sourceOffset + copied, outOffset = targetOffset + copied;
            nuint count = (nuint)Math.Min(length - copied, 1L << 30);
            nint n;
            switch (method)
            {
                case CopyMethod.CopyFileRange:
                    n = Libc.CopyFileRange(source, &inOffset, target, &outOffset, count, 0);
                    break;
                case CopyMethod.Sendfile:
                    if (Libc.Lseek(target, outOffset, Libc.SEEK_SET) < 0)
                        return (Libc.LastErrno, copied);
                    n = Libc.Sendfile(target, source, &inOffset, count);
                    break;
                default:
                    var (error, read) = BounceCopy(source, inOffset, target, outOffset, bounce[..(int)Math.Min((long)count, bounce.Length)]);
                    if (error.IsError)
                        return (error, copied);
                    n = read;
                    break;
            }
            if (n > 0)
            {
                copied += n;
                continue;
            }
            if (n == 0)
                return (Errno.None, copied); // source ended
            Errno failure = Libc.LastErrno;
            if (failure == Errno.EINTR)
                continue;
            if (failure != Errno.EXDEV && failure != Errno.EINVAL && failure != Errno.ENOSYS && failure != Errno.EOPNOTSUPP)
                return (failure, copied);
            method++; // this method cannot join these two files: try the next
        }
        return (Errno.None, copied);
    }

    private enum CopyMethod
    {
        CopyFileRange,
        Sendfile,
        Bounce,
    }

    private static (Errno Error, int Copied) BounceCopy(SafeFd source, long sourceOffset, SafeFd target, long targetOffset, Span<byte> bounce)
    {
        var (readError, read) = ReadFull(source, bounce, sourceOffset);
        if (readError.IsError)
            return (readError, 0);
        return (WriteAll(target, bounce[..read], targetOffset), read);
    }

    private static (Errno, SafeFd?) Wrap(int fd) => fd < 0 ? (Libc.LastErrno, null) : (Errno.None, new SafeFd(fd));
}
