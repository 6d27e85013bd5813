using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Store;

/// <summary>
/// The persistence store: the stand-in for the memory a kexec carries over.
/// Holds at most one committed generation (plus, after a crash, leftovers of
/// an uncommitted one, which are ignored and later removed). One process per
/// store: the host's STORE/lock guarantees it.
/// </summary>
public sealed class StoreDirectory
{
    private readonly SparseContent _content = new();
    private readonly IStoreCheckpoints _checkpoints;

    private StoreDirectory(string path, IStoreCheckpoints checkpoints)
    {
        Path = path;
        _checkpoints = checkpoints;
    }

    public string Path { get; }

    /// <summary>Opens (creating if needed) the store at <paramref name="path"/>, mode 0700:
    /// the contents are other processes' memory.</summary>
    public static StoreDirectory Open(string path, IStoreCheckpoints? checkpoints = null)
    {
        if (!OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("the store is built on Linux memfds");
        string full = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(full, StoreLayout.DirectoryMode);
        File.SetUnixFileMode(full, StoreLayout.DirectoryMode);
        return new StoreDirectory(full, checkpoints ?? NoCheckpoints.Instance);
    }

    /// <summary>The committed boot image, or <see cref="BootImage.Empty"/> when
    /// nothing was ever committed; a consumed one (<see cref="BootImage.Consumed"/>)
    /// when it was already handed over. Throws <see cref="StoreCorruptException"/>
    /// when the pointer or the manifest is damaged.</summary>
    public BootImage LoadCommitted()
    {
        if (CommitPointer.Read(Path) is not ulong generation)
            return BootImage.Empty;
        // Checked first: a consumed generation's files are never needed again.
        if (ConsumedMarker.IsPresent(GenerationPath(generation)))
            return BootImage.ConsumedGeneration(generation);
        string manifest = System.IO.Path.Combine(GenerationPath(generation), StoreLayout.Manifest);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(manifest);
        }
        catch (FileNotFoundException)
        {
            throw new StoreCorruptException(manifest, "the committed generation has no manifest");
        }
        IReadOnlyList<StoredSession> sessions = ManifestCodec.Decode(bytes, manifest, generation);
        string keptPath = System.IO.Path.Combine(GenerationPath(generation), StoreLayout.Kept);
        if (!File.Exists(keptPath))
            return new BootImage(generation, sessions);
        List<StoredFile> files = sessions.SelectMany(s => s.Files).ToList();
        var (key, kept) = KeptCodec.Decode(File.ReadAllBytes(keptPath), keptPath, files.Count);
        for (int i = 0; i < files.Count; i++)
            files[i].Kept = kept[i];
        return new BootImage(generation, sessions, key);
    }

    /// <summary>
    /// Records durably that <paramref name="image"/>, the committed generation,
    /// was handed over to this boot: from now on <see cref="LoadCommitted"/>
    /// returns it <see cref="BootImage.Consumed"/>. The caller does it at the
    /// first open of the device, before that open succeeds. An error means
    /// nothing was marked. A no-op for an empty store.
    /// </summary>
    public Errno MarkConsumed(BootImage image) =>
        image.Generation == 0 || image.Consumed ? Errno.None : ConsumedMarker.Write(GenerationPath(image.Generation), _checkpoints);

    /// <summary>Starts the next generation, after removing leftovers of
    /// uncommitted ones (a crash mid-write) and the generations the committed
    /// one replaced. Throws <see cref="StoreCorruptException"/> when the
    /// pointer is damaged: which generation to keep would be a guess.</summary>
    public GenerationWriter BeginGeneration()
    {
        if (!OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("the store is built on Linux memfds");
        ulong committed = CommitPointer.Read(Path) ?? 0;
        // The replaced generations go only once the pointer naming the
        // committed one is durable: a commit whose directory fsync failed
        // left them, since a power loss may bring back their pointer.
        bool pointerDurable = !FileOps.FsyncDirectory(Path).IsError;
        RemoveGenerationsExcept(Path, committed, keepOlder: !pointerDurable);
        File.Delete(System.IO.Path.Combine(Path, StoreLayout.PointerTemp));
        var writer = new GenerationWriter(Path, committed + 1, _checkpoints);
        Directory.CreateDirectory(System.IO.Path.Combine(Path, StoreLayout.GenerationName(committed + 1)), StoreLayout.DirectoryMode);
        return writer;
    }

    /// <summary>A new memfd (empty name, MFD_CLOEXEC|MFD_ALLOW_SEALING) with
    /// <paramref name="file"/>'s bytes, holes, size, position and seals. EIO
    /// when its content is missing or fails the checksum; other files of the
    /// image are unaffected.</summary>
    public (Errno Error, SafeFd? Memfd) Restore(StoredFile file) => _content.Restore(file);

    private string GenerationPath(ulong generation) => System.IO.Path.Combine(Path, StoreLayout.GenerationName(generation));

    /// <summary>Deletes every generation directory but <paramref name="keep"/>
    /// (and, with <paramref name="keepOlder"/>, those older than it).
    /// Best effort: whatever stays is removed next time.</summary>
    internal static void RemoveGenerationsExcept(string store, ulong keep, bool keepOlder = false)
    {
        foreach (string directory in Directory.EnumerateDirectories(store))
        {
            if (!StoreLayout.TryParseGeneration(System.IO.Path.GetFileName(directory), out ulong generation)
                || generation == keep || (keepOlder && generation < keep))
                continue;
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }
}
