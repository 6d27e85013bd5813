using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Store;

/// <summary>
/// The one data file of a durable generation: every memfd's data runs, one
/// memfd after the other, written through one buffer. A generation of 2000
/// small memfds costs one file, a few large writes and one fsync, so a
/// durable freeze pays for its bytes, not its files (docs/design.md §8).
/// Not thread-safe: one freeze fills one pack.
/// </summary>
internal sealed class ContentPack : IDisposable
{
    private const int BufferSize = 1 << 20;
    private readonly SafeFd _fd;
    private readonly byte[] _buffer = new byte[BufferSize];
    private int _buffered;
    private long _written;

    private ContentPack(string path, SafeFd fd)
    {
        Path = path;
        _fd = fd;
    }

    public string Path { get; }

    /// <summary>Bytes appended so far (written or still in the buffer):
    /// where the next memfd's data begins.</summary>
    public long Length => _written + _buffered;

    public static (Errno Error, ContentPack? Pack) Create(string path)
    {
        var (error, fd) = FileOps.CreateExclusive(path);
        return error.IsError ? (error, null) : (Errno.None, new ContentPack(path, fd!));
    }

    /// <summary>Free buffer space for the next bytes (at least one byte; the
    /// buffer is written out first when it is full). Fill a prefix of it,
    /// then <see cref="Advance"/> by what was filled.</summary>
    public (Errno Error, Memory<byte> Room) Room()
    {
        if (_buffered == BufferSize && Flush() is { IsError: true } error)
            return (error, Memory<byte>.Empty);
        return (Errno.None, _buffer.AsMemory(_buffered));
    }

    public void Advance(int filled) => _buffered += filled;

    /// <summary>Writes out the buffer and fsyncs the file: everything
    /// appended is on disk.</summary>
    public Errno Sync()
    {
        Errno error = Flush();
        return error.IsError ? error : FileOps.Fsync(_fd);
    }

    public void Dispose() => _fd.Dispose();

    private Errno Flush()
    {
        if (_buffered == 0)
            return Errno.None;
        Errno error = FileOps.WriteAll(_fd, _buffer.AsSpan(0, _buffered), _written);
        if (error.IsError)
            return error;
        _written += _buffered;
        _buffered = 0;
        return Errno.None;
    }
}
