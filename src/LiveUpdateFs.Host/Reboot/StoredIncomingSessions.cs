using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Core.Reboot;
using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Store;
using LiveUpdateFs.Uapi;
using Serilog;

namespace LiveUpdateFs.Host.Reboot;

/// <summary>The new boot's side of the store: the committed generation read
/// back as incoming sessions, each file restored only when it is retrieved,
/// from the store or from the memfds an in-place reboot kept open.</summary>
public sealed class StoredIncomingSessions(StoreDirectory store, IStoreCheckpoints checkpoints, KeptMemfds kept, ILogger log) : IIncomingSource
{
    private readonly ILogger _log = log.ForContext<StoredIncomingSessions>();

    public Errno Load(out IReadOnlyList<IncomingSessionImage> sessions)
    {
        sessions = [];
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
                f.Kept is { } descriptor ? new KeptFileSource(kept.Take(descriptor), f, name, _log) : new StoredFileSource(store, f, name, _log))).ToList()));
        }
        sessions = result;
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

    /// <summary>One stored memfd: the memfd handler's retrieve builds it anew.</summary>
    private sealed class StoredFileSource(StoreDirectory store, StoredFile file, SessionName session, ILogger log) : IRestorableFile
    {
        public long Size => file.Size;

        public Errno Restore(out IHeldFile? restored)
        {
            restored = null;
            var (error, memfd) = store.Restore(file);
            if (error.IsError)
            {
                log.Error("Token {Token} of session {Session}: its stored contents are missing or fail their checksum ({Errno}); RETRIEVE_FD returns {Errno} for it from now on, the other files are unaffected. The store {Store} is damaged: check the disk",
                    file.Token, session.ToString(), error.Name, error.Name, store.Path);
                return error;
            }
            Errno described = CallerProcess.Describe(memfd!, out FileFacts facts);
            if (described.IsError)
            {
                memfd!.Dispose();
                return described;
            }
            restored = new HeldFile(memfd!, facts);
            return Errno.None;
        }

        // The data stays in the committed generation until the next reboot
        // replaces it: nothing to release early.
        public void Discard()
        {
        }
    }

    /// <summary>
    /// A memfd kept open across the exec: RETRIEVE_FD hands out a new open
    /// file of it (its own position, set to the one recorded at the freeze),
    /// as memfd_luo's retrieve makes a new file over the same pages. The
    /// kernel's new file has the size and seals recorded at preserve (spec
    /// §8.3); when the kept inode no longer has them (a seal added since), the
    /// data is copied into a new memfd that does.
    /// </summary>
    private sealed class KeptFileSource(SafeFd? fd, StoredFile file, SessionName session, ILogger log) : IRestorableFile
    {
        public long Size => file.Size;

        public Errno Restore(out IHeldFile? restored)
        {
            restored = null;
            if (fd is null)
                return Errno.EIO; // Adopt logged why
            var (sealError, seals) = MemfdOps.GetSeals(fd);
            var (statError, stat) = MemfdOps.Stat(fd);
            bool asRecorded = !sealError.IsError && !statError.IsError && seals == file.Seals && stat.Size == file.Size;
            var (error, reopened) = asRecorded ? MemfdOps.Reopen(fd) : MemfdOps.CopyOf(fd, file.Size, file.Seals);
            FileFacts facts = default;
            if (!error.IsError)
            {
                error = MemfdOps.SeekTo(reopened!, file.Position);
                if (!error.IsError)
                    error = CallerProcess.Describe(reopened!, out facts);
                if (!error.IsError)
                {
                    restored = new HeldFile(reopened!, facts);
                    fd.Dispose();
                    return Errno.None;
                }
                reopened!.Dispose();
            }
            log.Error("Token {Token} of session {Session}: its kept memfd could not be opened again ({Errno}); RETRIEVE_FD returns EIO for it from now on",
                file.Token, session.ToString(), error.Name);
            return Errno.EIO;
        }

        public void Discard() => fd?.Dispose();
    }
}
