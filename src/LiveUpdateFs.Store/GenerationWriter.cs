using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Store;

/// <summary>
/// Writes one new generation beside the committed one. Nothing it does is
/// visible to <see cref="StoreDirectory.LoadCommitted"/> until
/// <see cref="Commit"/> switches the pointer; dropping it (Dispose) without a
/// commit removes what was written. Not thread-safe: one freeze writes one
/// generation.
/// </summary>
public sealed class GenerationWriter : IDisposable
{
    private readonly string _store;
    private readonly string _directory;
    private readonly ulong _generation;
    private readonly List<(byte[] Name, List<StoredFile> Files)> _sessions = [];
    private ContentPack? _pack;
    private readonly IStoreCheckpoints _checkpoints;
    private readonly List<KeptDescriptor> _kept = [];
    private int _fileCount;
    private bool _prepared;
    private Errno _firstError = Errno.None;
    private bool _finished;

    internal GenerationWriter(string store, ulong generation, IStoreCheckpoints checkpoints)
    {
        _store = store;
        _checkpoints = checkpoints;
        _generation = generation;
        _directory = Path.Combine(store, StoreLayout.GenerationName(generation));
    }

    public ulong Generation => _generation;

    /// <summary>Starts a session; the files added next belong to it.</summary>
    public void AddSession(ReadOnlySpan<byte> name)
    {
        EnsureOpen();
        _sessions.Add((name.ToArray(), []));
    }

    /// <summary>
    /// Records a memfd of the current session: its data (the first
    /// <see cref="FileShape.Size"/> bytes) appended sparse-aware to the
    /// generation's pack, which <see cref="Prepare"/> makes durable. <paramref name="shape"/> is what was recorded at
    /// preserve; null reads size and seals from <paramref name="memfd"/> now.
    /// <paramref name="progress"/> hears the bytes copied so far. An error
    /// here also makes <see cref="Commit"/> fail, so a partial image is never
    /// committed.
    /// </summary>
    public Errno AddFile(ulong token, string compatible, SafeFd memfd, long position, FileShape? shape = null,
        Action<long>? progress = null)
    {
        EnsureOpen();
        if (_sessions.Count == 0)
            throw new InvalidOperationException("AddFile before AddSession: a file belongs to a session");
        return Remember(Save(token, compatible, memfd, position, shape, progress));
    }

    /// <summary>
    /// Records a memfd of the current session for an in-place reboot: no data
    /// is copied; the file stays in <paramref name="memfd"/>, which the caller
    /// keeps open across its exec into the next instance. A generation holds
    /// either kept files or copied ones.
    /// </summary>
    public Errno AddKeptFile(ulong token, string compatible, SafeFd memfd, long position, FileShape shape)
    {
        EnsureOpen();
        if (_sessions.Count == 0)
            throw new InvalidOperationException("AddKeptFile before AddSession: a file belongs to a session");
        if (position < 0)
            return Remember(Errno.EINVAL);
        var (error, stat) = MemfdOps.Stat(memfd);
        if (error.IsError)
            return Remember(error);
        _fileCount++;
        _kept.Add(new KeptDescriptor(memfd.Fd, stat.Dev, stat.Ino));
        _sessions[^1].Files.Add(new StoredFile(token, compatible, shape.Size, position, shape.Seals, [], 0, ""));
        return Errno.None;
    }

    /// <summary>After <see cref="Publish"/>: the error of the store directory's
    /// fsync after the pointer's rename, if it failed. The commit stands (a
    /// crash may still bring back the previous state, complete).</summary>
    public Errno UnsyncedPointer { get; private set; }

    /// <summary>The fds of the kept files, in order: what must stay open across the exec.</summary>
    public IReadOnlyList<KeptDescriptor> KeptFiles => _kept;

    /// <summary>The key of an in-place generation (see <see cref="KeptCodec"/>).</summary>
    public ulong KeptKey { get; } = (ulong)Random.Shared.NextInt64(1, long.MaxValue);

    /// <summary>Makes this generation the committed one: <see cref="Prepare"/>, then <see cref="Publish"/>.</summary>
    public Errno Commit()
    {
        Errno prepared = Prepare();
        return prepared.IsError ? prepared : Publish();
    }

    /// <summary>
    /// Everything of the commit but the pointer switch: the pack written out
    /// and fsynced (one fsync for all the data), the manifest (and for kept
    /// files their list) written and fsynced, the generation directory and
    /// the store fsynced. Still invisible to the next boot.
    /// </summary>
    public Errno Prepare()
    {
        EnsureOpen();
        if (_firstError.IsError)
            return _firstError;
        if (_kept.Count > 0 && _kept.Count != _fileCount)
            throw new InvalidOperationException("a generation holds either kept files or copied ones");
        Errno error = _pack is null ? Errno.None : Step(StoreStep.ContentFsync, _pack.Sync);
        _pack?.Dispose();
        _pack = null;
        var sessions = _sessions.Select(s => new StoredSession(s.Name, s.Files)).ToList();
        string manifest = Path.Combine(_directory, StoreLayout.Manifest);
        error = error.IsError ? error : Step(StoreStep.ManifestWrite, () => WriteDurably(manifest, ManifestCodec.Encode(_generation, sessions)));
        if (!error.IsError && _kept.Count > 0)
            error = WriteDurably(Path.Combine(_directory, StoreLayout.Kept), KeptCodec.Encode(KeptKey, _kept));
        // The entries of the pack and the manifest, then the generation directory's own.
        error = error.IsError ? error : Step(StoreStep.GenerationFsync, () => FileOps.FsyncDirectory(_directory));
        error = error.IsError ? error : Step(StoreStep.StoreFsync, () => FileOps.FsyncDirectory(_store));
        if (error.IsError)
            return Remember(error);
        _prepared = true;
        return Errno.None;
    }

    /// <summary>
    /// Switches the pointer atomically to this prepared generation. Older
    /// generations are removed only afterwards, and only once the switch is
    /// durable (best effort; the next <see cref="StoreDirectory.BeginGeneration"/>
    /// removes what is left). On error the previous commit stays in force.
    /// </summary>
    public Errno Publish()
    {
        EnsureOpen();
        if (!_prepared)
            throw new InvalidOperationException($"generation {_generation} must be prepared before it is published");
        Errno error = CommitPointer.Write(_store, _generation, _checkpoints, out Errno unsynced);
        if (error.IsError)
            return Remember(error);
        UnsyncedPointer = unsynced;
        _finished = true;
        // The rename may not have reached the disk: after a power loss the old
        // pointer can come back, and must still name a complete generation.
        if (unsynced.IsError)
            return Errno.None;
        // Past the commit nothing can fail the reboot any more: the checkpoint's error is ignored.
        _checkpoints.Reach(StoreStep.Cleanup);
        StoreDirectory.RemoveGenerationsExcept(_store, _generation);
        return Errno.None;
    }

    /// <summary>Removes the uncommitted generation. Idempotent; a no-op after a commit.</summary>
    public void Abort()
    {
        if (_finished)
            return;
        _finished = true;
        _pack?.Dispose();
        _pack = null;
        try
        {
            if (Directory.Exists(_directory))
                Directory.Delete(_directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Harmless: an uncommitted generation is invisible to LoadCommitted
            // and the next BeginGeneration removes it. Dispose must not throw.
        }
    }

    public void Dispose() => Abort();

    private Errno Save(ulong token, string compatible, SafeFd memfd, long position, FileShape? recorded, Action<long>? progress)
    {
        if (position < 0)
            return Errno.EINVAL;
        var (error, shape) = recorded is { } known ? (Errno.None, known) : ReadShape(memfd);
        if (error.IsError)
            return error;
        if (_checkpoints.Reach(StoreStep.ContentWrite) is { IsError: true } refused)
            return refused;
        if (_pack is null)
        {
            (error, _pack) = ContentPack.Create(Path.Combine(_directory, StoreLayout.Pack));
            if (error.IsError)
                return error;
        }
        long offset = _pack!.Length;
        var (saveError, runs, checksum) = SparseContent.Save(memfd, shape.Size, _pack, progress);
        if (saveError.IsError)
            return saveError;
        _fileCount++;
        _sessions[^1].Files.Add(new StoredFile(token, compatible, shape.Size, position, shape.Seals, runs, checksum, _pack.Path, offset));
        return Errno.None;
    }

    private static (Errno, FileShape) ReadShape(SafeFd memfd)
    {
        var (error, stat) = MemfdOps.Stat(memfd);
        if (error.IsError)
            return (error, default);
        var (sealError, seals) = MemfdOps.GetSeals(memfd);
        return (sealError, new FileShape(stat.Size, seals));
    }

    private Errno Step(string step, Func<Errno> work)
    {
        Errno checkpoint = _checkpoints.Reach(step);
        return checkpoint.IsError ? checkpoint : work();
    }

    private static Errno WriteDurably(string path, byte[] bytes)
    {
        var (error, fd) = FileOps.CreateExclusive(path);
        if (error.IsError)
            return error;
        using (fd)
        {
            error = FileOps.WriteAll(fd!, bytes, 0);
            return error.IsError ? error : FileOps.Fsync(fd!);
        }
    }

    private Errno Remember(Errno error)
    {
        if (error.IsError && !_firstError.IsError)
            _firstError = error;
        return error;
    }

    private void EnsureOpen()
    {
        if (_finished)
            throw new InvalidOperationException($"generation {_generation} was already committed or aborted");
    }
}
