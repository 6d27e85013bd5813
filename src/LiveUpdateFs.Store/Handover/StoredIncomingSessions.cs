using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Core.Reboot;
using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;
using Serilog;

namespace LiveUpdateFs.Store.Handover;

/// <summary>The new boot's side of the store: the committed generation read
/// back as incoming sessions, each file restored only when it is retrieved,
/// from the store or from the memfds an in-place reboot kept open. The
/// generation is handed over once: the first open marks it consumed, and a
/// restart after a crash of this boot starts cold, as a crashed kernel does.</summary>
/// <param name="files">Turns a restored memfd into a held file.</param>
public sealed class StoredIncomingSessions(StoreDirectory store, IStoreCheckpoints checkpoints, KeptMemfds kept, IHeldFiles files, ILogger log)
    : IIncomingSource
{
    private readonly ILogger _log = log.ForContext<StoredIncomingSessions>();

    /// <summary>What the load returned; kept, as the kept fds are taken once
    /// and the open after a failed <see cref="MarkConsumed"/> loads again.</summary>
    private IReadOnlyList<IncomingSessionImage>? _loaded;

    /// <summary>The generation whose sessions were loaded, until it is marked consumed.</summary>
    private BootImage? _toMark;

    public Errno Load(out IReadOnlyList<IncomingSessionImage> sessions)
    {
        if (_loaded is not null)
        {
            sessions = _loaded;
            return Errno.None;
        }
        Errno error = LoadCommitted(out sessions, out BootImage? handedOver);
        if (!error.IsError)
            (_loaded, _toMark) = (sessions, handedOver);
        return error;
    }

    /// <summary>
    /// Marks the loaded generation consumed in the store (the mark is durable
    /// when this returns). When that fails (disk full, EIO), this open fails
    /// with EIO rather than succeed unmarked: booting cold would lose sessions
    /// that can still be handed over once the disk is fixed, and an open that
    /// succeeded unmarked would offer them again after a crash, with their old
    /// bytes (stale guest RAM). Nothing is consumed; the next open tries again.
    /// </summary>
    public Errno MarkConsumed()
    {
        if (_toMark is not { } image)
            return Errno.None;
        Errno error = store.MarkConsumed(image);
        if (error.IsError)
        {
            _log.Error("Cannot record in {Store} that generation {Generation} is handed over to this boot ({Errno}); this open of the device fails with EIO and nothing is handed over yet, so that a crash cannot offer the sessions twice. Free space on the store's file system or check the disk, then open the device again",
                store.Path, image.Generation, error.Name);
            return error;
        }
        _toMark = null;
        _log.Debug("Generation {Generation} in {Store} marked consumed: a restart without a reboot boots cold", image.Generation, store.Path);
        return Errno.None;
    }

    /// <summary>The committed generation's sessions; <paramref name="handedOver"/>
    /// is the generation when it has some to hand over.</summary>
    private Errno LoadCommitted(out IReadOnlyList<IncomingSessionImage> sessions, out BootImage? handedOver)
    {
        sessions = [];
        handedOver = null;
        BootImage image;
        try
        {
            if (checkpoints.Reach(StoreStep.Load) is { IsError: true } fault)
                return fault;
            image = kept.Image ?? store.LoadCommitted();
        }
        catch (IOException ex)
        {
            // StoreCorruptException names the bad file and the fix.
            _log.Error("Cannot read the incoming sessions: {Problem} Until then every open of the device fails with EIO", ex.Message);
            return Errno.EIO;
        }
        if (image.Consumed)
        {
            _log.Error("Generation {Generation} in {Store} was already handed over to a boot that then ended without a reboot (its daemon was killed or crashed after the first open of the device). As a kernel that crashed, this boot starts cold: no incoming sessions. To carry sessions to the next boot, end a boot with `liveupdatefs reboot` (`--durable` if the next daemon may die before its first open) or `liveupdatefs unmount`",
                image.Generation, store.Path);
            return Errno.None;
        }
        if (image.KeptKey is { } key && key != kept.Key)
        {
            // As after a crash during a kexec: the preserved memory is gone; the machine boots cold.
            _log.Error("Generation {Generation} in {Store} was handed over in place, and the daemon that kept its memfds died before this start: they died with it. This boot has no incoming sessions. Where the daemon may be killed, reboot with `liveupdatefs reboot --durable`",
                image.Generation, store.Path);
            return Errno.None;
        }
        var result = new List<IncomingSessionImage>(image.Sessions.Count);
        foreach (StoredSession stored in image.Sessions)
        {
            SessionName? name = NameOf(stored.Name.Span);
            if (name is null)
            {
                _log.Error("The store {Store} (generation {Generation}) holds a session name that is not 1..63 bytes without NUL; every open of the device fails with EIO. Move the store aside to boot cold",
                    store.Path, image.Generation);
                return Errno.EIO;
            }
            result.Add(new IncomingSessionImage(name, stored.Files.Select(f => new IncomingFileImage(f.Token, f.Compatible,
                f.Kept is { } descriptor ? new KeptFileSource(kept.Take(descriptor), f, name, checkpoints, files, _log)
                    : new StoredFileSource(store, f, name, files, _log))).ToList()));
        }
        sessions = result;
        handedOver = result.Count > 0 ? image : null;
        return Errno.None;
    }

    private static SessionName? NameOf(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > SessionName.MaxLength)
            return null;
        Span<byte> field = stackalloc byte[SessionName.MaxLength + 1];
        field.Clear();
        bytes.CopyTo(field);
        SessionName? name = SessionName.FromField(field);
        return name is null || name.Bytes.Length != bytes.Length || bytes.IsEmpty ? null : name;
    }

    /// <summary>One stored memfd: the memfd handler's retrieve builds it anew.
    /// Copying a large file out of the store runs off the request thread
    /// first (<see cref="PrepareRestore"/>), docs/blocking.md.</summary>
    private sealed class StoredFileSource(StoreDirectory store, StoredFile file, SessionName session, IHeldFiles files, ILogger log) : IRestorableFile
    {
        /// <summary>Smaller files are copied in place: well under a millisecond.</summary>
        private const long InPlaceLimit = 1 << 20;

        private readonly object _lock = new();
        private (Errno Error, SafeFd? Memfd)? _prepared;
        private bool _discarded;
        private bool _restored;

        public long Size => file.Size;

        public bool RestoreIsSlow
        {
            get
            {
                lock (_lock)
                    return _prepared is null && !_restored && file.Size > InPlaceLimit;
            }
        }

        public void PrepareRestore()
        {
            lock (_lock)
            {
                if (_prepared is not null || _discarded || _restored)
                    return; // a second retrieve queued behind the first needs no copy of its own
            }
            var restored = store.Restore(file);
            lock (_lock)
            {
                if (_prepared is null && !_discarded && !_restored)
                {
                    _prepared = restored;
                    return;
                }
            }
            restored.Memfd?.Dispose(); // discarded meanwhile, or prepared twice
        }

        public Errno Restore(out IHeldFile? restored)
        {
            restored = null;
            (Errno Error, SafeFd? Memfd) prepared;
            lock (_lock)
            {
                prepared = _prepared ?? default;
                _prepared = null;
                _restored = true;
            }
            var (error, memfd) = prepared.Error.IsError || prepared.Memfd is not null ? prepared : store.Restore(file);
            if (error.IsError)
            {
                log.Error("Token {Token} of session {Session}: its stored contents are missing or fail their checksum ({Errno}); RETRIEVE_FD returns {Errno} for it from now on, the other files are unaffected. The store {Store} is damaged: check the disk",
                    file.Token, session.ToString(), error.Name, error.Name, store.Path);
                return error;
            }
            return files.Hold(memfd!, out restored);
        }

        /// <summary>The data stays in the committed generation until the next
        /// reboot replaces it; only a copy prepared for a retrieve is released.</summary>
        public void Discard()
        {
            lock (_lock)
            {
                _discarded = true;
                _prepared?.Memfd?.Dispose();
                _prepared = null;
            }
        }
    }

    /// <summary>
    /// A memfd kept open across the exec: RETRIEVE_FD hands out a new open
    /// file of it (its own position, set to the one recorded at the freeze),
    /// as memfd_luo's retrieve makes a new file over the same pages. The
    /// kernel's new file has the size and seals recorded at preserve
    /// (docs/behaviour.md §8.3); when the kept inode no longer has them (a seal added since), the
    /// data is copied into a new memfd that does.
    /// </summary>
    private sealed class KeptFileSource(SafeFd? fd, StoredFile file, SessionName session, IStoreCheckpoints checkpoints, IHeldFiles files, ILogger log)
        : IRestorableFile
    {
        public long Size => file.Size;

        public Errno Restore(out IHeldFile? restored)
        {
            restored = null;
            if (fd is null)
                return Errno.EIO; // Adopt logged why
            Errno failed = checkpoints.Reach(FaultSwitch.RetrieveFd);
            if (!failed.IsError)
                failed = Reopen(out restored);
            if (failed.IsError)
            {
                // The failure is permanent (docs/behaviour.md §4.4) and FINISH has nothing more
                // to do for it (docs/behaviour.md §8.6): the kept pages are released now.
                fd.Dispose();
                fd = null;
                log.Error("Token {Token} of session {Session}: its kept memfd could not be opened again ({Errno}); RETRIEVE_FD returns EIO for it from now on",
                    file.Token, session.ToString(), failed.Name);
                return Errno.EIO;
            }
            return Errno.None;
        }

        private Errno Reopen(out IHeldFile? restored)
        {
            restored = null;
            var (sealError, seals) = MemfdOps.GetSeals(fd!);
            var (statError, stat) = MemfdOps.Stat(fd!);
            bool asRecorded = !sealError.IsError && !statError.IsError && seals == file.Seals && stat.Size == file.Size;
            var (error, reopened) = asRecorded ? MemfdOps.Reopen(fd!) : MemfdOps.CopyOf(fd!, file.Size, file.Seals);
            if (error.IsError)
                return error;
            error = MemfdOps.SeekTo(reopened!, file.Position);
            if (error.IsError)
            {
                reopened!.Dispose();
                return error;
            }
            error = files.Hold(reopened!, out restored); // closes the reopened file on an error
            if (error.IsError)
                return error;
            fd!.Dispose(); // the new open file holds the pages now
            fd = null;
            return Errno.None;
        }

        public void Discard() => fd?.Dispose();
    }
}
