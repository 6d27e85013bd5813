using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Store;

/// <summary>
/// STORE/gen-X/consumed: the generation was handed over to a boot, at that
/// boot's first open of the device (docs/behaviour.md §3). A kernel hands its sessions to
/// the boot after the kexec only; if that boot crashes, the machine
/// cold-boots with nothing handed over. A generation stays committed until
/// the next reboot replaces it, so without this mark a daemon killed after
/// the hand-over would offer the same sessions, with their old bytes, to the
/// next start: stale guest RAM restored silently.
/// <para>
/// Only the file's existence counts; its text is for whoever looks into the
/// store. It is written to consumed.tmp, fsynced and renamed into place, and
/// the generation directory is fsynced before <see cref="Write"/> returns:
/// the mark exists, durably, before the open that consumed the generation
/// may succeed, and never exists half-made. A store written before this mark
/// existed has none: its generation is offered once, like a new one.
/// </para>
/// </summary>
internal static class ConsumedMarker
{
    private static ReadOnlySpan<byte> Text =>
        "handed over at the first open of the device; a restart without a reboot boots with no incoming sessions\n"u8;

    public static bool IsPresent(string generationDirectory) =>
        File.Exists(Path.Combine(generationDirectory, StoreLayout.Consumed));

    /// <summary>Marks the generation in <paramref name="generationDirectory"/>
    /// consumed. On error nothing is marked: the mark is removed again if its
    /// rename happened but the directory fsync failed (best effort; a mark
    /// that stays only means this generation is not offered again, never that
    /// stale sessions are).</summary>
    public static Errno Write(string generationDirectory, IStoreCheckpoints checkpoints)
    {
        string temp = Path.Combine(generationDirectory, StoreLayout.ConsumedTemp);
        string marker = Path.Combine(generationDirectory, StoreLayout.Consumed);
        Errno error = checkpoints.Reach(StoreStep.ConsumedWrite);
        if (error.IsError)
            return error;
        error = Remove(temp); // a leftover of an earlier attempt that failed
        if (!error.IsError)
            error = WriteSynced(temp);
        if (!error.IsError)
            error = FileOps.Rename(temp, marker);
        if (error.IsError)
        {
            Remove(temp);
            return error;
        }
        error = FileOps.FsyncDirectory(generationDirectory);
        if (error.IsError)
            Remove(marker);
        return error;
    }

    private static Errno WriteSynced(string path)
    {
        var (error, fd) = FileOps.CreateExclusive(path);
        if (error.IsError)
            return error;
        using (fd)
        {
            error = FileOps.WriteAll(fd!, Text, 0);
            return error.IsError ? error : FileOps.Fsync(fd!);
        }
    }

    private static Errno Remove(string path)
    {
        try
        {
            File.Delete(path);
            return Errno.None;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Errno.EIO;
        }
    }
}
