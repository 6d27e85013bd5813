namespace LiveUpdateFs.Uapi;

/// <summary>Switches for the behaviours that changed around v7.2 (spec §10.1).</summary>
public sealed record LuoBehaviour
{
    /// <summary>[GN-fix] GET_NAME takes its own 72-byte struct. Off: the v7.2
    /// merge result, where GET_NAME's known and minimum size are 16 (§4.6).</summary>
    public bool GetNameFix { get; init; } = true;

    /// <summary>[FIN-fix] FINISH rejects a non-zero reserved field with EINVAL
    /// (§2.3). Off in the v7.2 reference.</summary>
    public bool FinishChecksReserved { get; init; }

    public static LuoBehaviour Reference { get; } = new();
}
