namespace LiveUpdateFs.Store;

/// <summary>What the last committed generation holds: the state a new "boot"
/// starts from. Sessions and files keep the order they were added in.</summary>
public sealed class BootImage
{
    public static readonly BootImage Empty = new(0, []);

    internal BootImage(ulong generation, IReadOnlyList<StoredSession> sessions, ulong? keptKey = null)
    {
        Generation = generation;
        Sessions = sessions;
        KeptKey = keptKey;
    }

    /// <summary>A generation that was already handed over to a boot (its
    /// <see cref="ConsumedMarker"/>): it offers nothing, and none of its
    /// files (manifest, kept list, data) is read.</summary>
    internal static BootImage ConsumedGeneration(ulong generation) => new(generation, []) { Consumed = true };

    /// <summary>The generation was handed over at an earlier boot's first open
    /// of the device (<see cref="StoreDirectory.MarkConsumed"/>); that boot
    /// ended without a reboot (a crash), so this one starts cold.
    /// <see cref="Sessions"/> is then empty.</summary>
    public bool Consumed { get; private init; }

    /// <summary>Set for an in-place generation: its files are fds the previous
    /// instance kept open across its exec (<see cref="StoredFile.Kept"/>), and
    /// only the instance it started with this key holds them.</summary>
    public ulong? KeptKey { get; }

    /// <summary>The committed generation number; 0 when nothing was ever committed.</summary>
    public ulong Generation { get; }

    public IReadOnlyList<StoredSession> Sessions { get; }
}
