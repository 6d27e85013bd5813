using System.Text;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Store;

/// <summary>
/// The file naming the committed generation. Switching it is the commit: the
/// new name goes to current.tmp, is fsynced, renamed over current (atomic),
/// and the store directory is fsynced — swtpm's recipe. A crash before the
/// rename leaves the old pointer, after it the new one; never half of either.
/// </summary>
internal static class CommitPointer
{
    /// <summary>The committed generation, or null when nothing was ever committed.</summary>
    public static ulong? Read(string store)
    {
        string path = Path.Combine(store, StoreLayout.Pointer);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        string text = Encoding.ASCII.GetString(bytes);
        if (!text.EndsWith('\n') || !StoreLayout.TryParseGeneration(text[..^1], out ulong generation))
            throw new StoreCorruptException(path, "it does not name a generation (expected \"gen-\" and 16 hex digits)");
        if (!Directory.Exists(Path.Combine(store, StoreLayout.GenerationName(generation))))
            throw new StoreCorruptException(path, $"it names {StoreLayout.GenerationName(generation)}, which does not exist");
        return generation;
    }

    /// <summary>
    /// Switches the pointer. Once the rename is done the new generation is
    /// the committed one, whatever follows: a failure of the final directory
    /// fsync is then reported in <paramref name="unsynced"/> (the switch may
    /// not survive a power loss; the old and the new state are both complete)
    /// and the result is success.
    /// </summary>
    public static Errno Write(string store, ulong generation, IStoreCheckpoints checkpoints, out Errno unsynced)
    {
        unsynced = Errno.None;
        string temp = Path.Combine(store, StoreLayout.PointerTemp);
        File.Delete(temp); // a crash may have left one; it was never committed
        Errno error = checkpoints.Reach(StoreStep.PointerWrite);
        if (error.IsError)
            return error;
        var (createError, fd) = FileOps.CreateExclusive(temp);
        if (createError.IsError)
            return createError;
        using (fd)
        {
            error = FileOps.WriteAll(fd!, Encoding.ASCII.GetBytes(StoreLayout.GenerationName(generation) + "\n"), 0);
            if (!error.IsError)
                error = FileOps.Fsync(fd!);
        }
        if (!error.IsError)
            error = checkpoints.Reach(StoreStep.PointerRename);
        if (!error.IsError)
            error = FileOps.Rename(temp, Path.Combine(store, StoreLayout.Pointer));
        if (error.IsError)
            return error;
        unsynced = checkpoints.Reach(StoreStep.PointerFsync);
        if (!unsynced.IsError)
            unsynced = FileOps.FsyncDirectory(store);
        return Errno.None;
    }
}
