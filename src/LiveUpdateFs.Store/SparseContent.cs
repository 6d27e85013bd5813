using System.IO.Hashing;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Store;

/// <summary>
/// Moves a memfd's bytes into a generation's <see cref="ContentPack"/> and
/// back. Only the data runs (SEEK_DATA/SEEK_HOLE) are copied, packed back to
/// back, so an 8 GiB memfd with 1 MiB of data costs 1 MiB; holes stay holes
/// on the way back. Each piece is read once into a buffer, hashed there and
/// written from there, as a plain `dd` copies: the checksum covers exactly
/// the bytes written (the pack on save, the new memfd on restore).
/// </summary>
internal sealed class SparseContent
{
    private const int BounceSize = 1 << 20;
    private const long ProgressPiece = 64L << 20;
    private readonly byte[] _bounce = new byte[BounceSize];

    /// <summary>Appends the data of <paramref name="shared"/> (first
    /// <paramref name="size"/> bytes) to <paramref name="pack"/>.
    /// <paramref name="shared"/> is the owner's open file description
    /// (pidfd_getfd), whose position must not move (docs/behaviour.md §8.2:
    /// the freeze only reads it): reads are preads, and a hole scan (which
    /// seeks) goes through a private open file of the memfd.</summary>
    public static (Errno Error, List<DataRun> Runs, ulong Checksum) Save(SafeFd shared, long size, ContentPack pack, Action<long>? progress = null)
    {
        var (statError, stat) = MemfdOps.Stat(shared);
        if (statError.IsError)
            return (statError, [], 0);
        if (IsDense(stat, size))
            return Append(shared, size == 0 ? [] : [new DataRun(0, size)], pack, progress);
        var (reopenError, memfd) = MemfdOps.ReopenForReading(shared);
        if (reopenError.IsError)
            return (reopenError, [], 0);
        using (memfd)
        {
            var (error, runs) = MemfdOps.DataRuns(memfd!, size);
            return error.IsError ? (error, runs, 0) : Append(memfd!, runs, pack, progress);
        }
    }

    /// <summary>tmpfs counts the pages it holds in st_blocks: when they are
    /// exactly the pages below the size, the file has no hole and the scan
    /// (a private open and two seeks per run) is skipped. That is the
    /// common shape of a small memfd.</summary>
    private static bool IsDense(KernelStat stat, long size)
    {
        long page = Environment.SystemPageSize;
        return stat.Size == size && stat.Blocks * 512 == (size + page - 1) / page * page;
    }

    private static (Errno Error, List<DataRun> Runs, ulong Checksum) Append(SafeFd memfd, List<DataRun> runs, ContentPack pack, Action<long>? progress)
    {
        var hash = new XxHash3();
        long packed = 0;
        long reported = 0;
        foreach (var run in runs)
        {
            for (long done = 0; done < run.Length;)
            {
                var (roomError, room) = pack.Room();
                if (roomError.IsError)
                    return (roomError, runs, 0);
                var chunk = room.Span[..(int)Math.Min(room.Length, run.Length - done)];
                var (readError, read) = FileOps.ReadFull(memfd, chunk, run.Offset + done);
                if (readError.IsError)
                    return (readError, runs, 0);
                // EIO for a short read: the memfd shrank under us, it was not frozen.
                if (read != chunk.Length)
                    return (Errno.EIO, runs, 0);
                hash.Append(chunk);
                pack.Advance(read);
                done += read;
                packed += read;
                // In pieces, so that a progress display moves during a large run.
                if (progress is not null && packed - reported >= ProgressPiece)
                {
                    progress(packed);
                    reported = packed;
                }
            }
        }
        if (progress is not null && packed != reported)
            progress(packed);
        return (Errno.None, runs, hash.GetCurrentHashAsUInt64());
    }

    /// <summary>A new memfd with the recorded bytes, size, position and seals;
    /// EIO when the content file is missing, does not reach the end of this
    /// file's data, or the data fails its checksum: damage elsewhere in the
    /// pack leaves this file alone.</summary>
    public (Errno Error, SafeFd? Memfd) Restore(StoredFile file)
    {
        var (error, content) = FileOps.OpenRead(file.ContentPath);
        if (error.IsError)
            return (error == Errno.ENOENT ? Errno.EIO : error, null);
        using (content)
        {
            var (statError, stat) = MemfdOps.Stat(content!);
            if (statError.IsError)
                return (statError, null);
            if (stat.Size < file.ContentOffset + file.DataBytes)
                return (Errno.EIO, null);
            var (createError, memfd) = MemfdOps.Create();
            if (createError.IsError)
                return (createError, null);
            error = Fill(file, content!, memfd!);
            if (error.IsError)
            {
                memfd!.Dispose(); // never hand out a memfd with unverified bytes
                return (error, null);
            }
            return (Errno.None, memfd);
        }
    }

    private Errno Fill(StoredFile file, SafeFd content, SafeFd memfd)
    {
        // Size first, then the runs in place: what lies between them is never
        // written and stays a hole.
        if (MemfdOps.Truncate(memfd, file.Size) is { IsError: true } truncateError)
            return truncateError;
        var hash = new XxHash3();
        long packed = 0;
        foreach (var run in file.Runs)
        {
            if (CopyHashed(content, file.ContentOffset + packed, memfd, run.Offset, run.Length, hash) is { IsError: true } copyError)
                return copyError;
            packed += run.Length;
        }
        if (hash.GetCurrentHashAsUInt64() != file.Checksum)
            return Errno.EIO;
        if (MemfdOps.SeekTo(memfd, file.Position) is { IsError: true } seekError)
            return seekError;
        // Seals last: F_SEAL_WRITE or F_SEAL_GROW would stop the filling above.
        return file.Seals == 0 ? Errno.None : MemfdOps.AddSeals(memfd, file.Seals);
    }

    /// <summary>Copies <paramref name="length"/> bytes through the buffer,
    /// hashing them on the way; EIO when the source ends early.</summary>
    private Errno CopyHashed(SafeFd source, long sourceOffset, SafeFd target, long targetOffset, long length, XxHash3 hash)
    {
        for (long done = 0; done < length;)
        {
            var chunk = _bounce.AsSpan(0, (int)Math.Min(length - done, BounceSize));
            var (error, read) = FileOps.ReadFull(source, chunk, sourceOffset + done);
            if (error.IsError)
                return error;
            if (read != chunk.Length)
                return Errno.EIO;
            hash.Append(chunk);
            if (FileOps.WriteAll(target, chunk, targetOffset + done) is { IsError: true } writeError)
                return writeError;
            done += read;
        }
        return Errno.None;
    }
}
