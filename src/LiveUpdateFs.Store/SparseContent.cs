using System.IO.Hashing;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Store;

/// <summary>
/// Moves a memfd's bytes into a content file and back. Only the data runs
/// (SEEK_DATA/SEEK_HOLE) are copied, packed back to back, so an 8 GiB memfd
/// with 1 MiB of data costs 1 MiB; holes stay holes on the way back.
/// Each piece is read once into a buffer, hashed there and written from
/// there, as a plain `dd` copies: the checksum covers exactly the bytes
/// written (content file on save, the new memfd on restore).
/// </summary>
internal sealed class SparseContent
{
    private const int BounceSize = 1 << 20;
    private const long ProgressPiece = 64L << 20;
    private readonly byte[] _bounce = new byte[BounceSize];

    /// <summary>Copies the data of <paramref name="shared"/> (first
    /// <paramref name="size"/> bytes) into the empty <paramref name="content"/>
    /// file. The scan and the reads go through a private open file of the
    /// memfd: <paramref name="shared"/> is the owner's open file description
    /// (pidfd_getfd), whose position must not move (docs/behaviour.md §8.2: the freeze only
    /// reads it).</summary>
    public (Errno Error, List<DataRun> Runs, ulong Checksum) Save(SafeFd shared, long size, SafeFd content, Action<long>? progress = null)
    {
        var (reopenError, memfd) = MemfdOps.ReopenForReading(shared);
        if (reopenError.IsError)
            return (reopenError, [], 0);
        using (memfd)
            return SavePrivate(memfd!, size, content, progress);
    }

    private (Errno Error, List<DataRun> Runs, ulong Checksum) SavePrivate(SafeFd memfd, long size, SafeFd content, Action<long>? progress)
    {
        var (error, runs) = MemfdOps.DataRuns(memfd, size);
        if (error.IsError)
            return (error, runs, 0);
        var hash = new XxHash3();
        long packed = 0;
        foreach (var run in runs)
        {
            // In pieces, so that a progress display moves during a large run.
            for (long done = 0; done < run.Length;)
            {
                long piece = Math.Min(ProgressPiece, run.Length - done);
                // EIO for a short read: the memfd shrank under us, it was not frozen.
                if (CopyHashed(memfd, run.Offset + done, content, packed, piece, hash) is { IsError: true } copyError)
                    return (copyError, runs, 0);
                packed += piece;
                done += piece;
                progress?.Invoke(packed);
            }
        }
        return (Errno.None, runs, hash.GetCurrentHashAsUInt64());
    }

    /// <summary>A new memfd with the recorded bytes, size, position and seals;
    /// EIO when the content file is missing, short, long or fails its checksum.</summary>
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
            if (stat.Size != file.DataBytes)
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
            if (CopyHashed(content, packed, memfd, run.Offset, run.Length, hash) is { IsError: true } copyError)
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
