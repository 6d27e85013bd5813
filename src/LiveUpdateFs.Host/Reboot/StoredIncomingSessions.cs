using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Core.Reboot;
using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Store;
using LiveUpdateFs.Uapi;
using Serilog;

namespace LiveUpdateFs.Host.Reboot;

/// <summary>The new boot's side of the store: the committed generation read
/// back as incoming sessions, each file restored only when it is retrieved.</summary>
public sealed class StoredIncomingSessions(StoreDirectory store, IStoreCheckpoints checkpoints, ILogger log) : IIncomingSource
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
            image = store.LoadCommitted();
        }
        catch (IOException ex)
        {
            // StoreCorruptException names the bad file and the fix.
            _log.Error("Cannot read the incoming sessions: {Problem} Until then every open of the device fails with EIO", ex.Message);
            return Errno.EIO;
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
            result.Add(new IncomingSessionImage(name,
                stored.Files.Select(f => new IncomingFileImage(f.Token, f.Compatible, new StoredFileSource(store, f, name, _log))).ToList()));
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
}
