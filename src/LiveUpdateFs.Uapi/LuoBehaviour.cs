namespace LiveUpdateFs.Uapi;

/// <summary>Switches for the behaviours that changed around v7.2 (docs/behaviour.md §9.3).</summary>
public sealed record LuoBehaviour
{
    /// <summary>[GN-fix] GET_NAME takes its own 72-byte struct. Off: the v7.2
    /// merge result, where GET_NAME's known and minimum size are 16 (docs/behaviour.md §4.6).</summary>
    public bool GetNameFix { get; init; } = true;

    /// <summary>[FIN-fix] FINISH rejects a non-zero reserved field with EINVAL
    /// (docs/behaviour.md §2.3). Off in the v7.2 reference.</summary>
    public bool FinishChecksReserved { get; init; }

    public static LuoBehaviour Reference { get; } = new();
}
