namespace LiveUpdateFs.Uapi;

/// <summary>Which kind of LUO file a request arrives on.</summary>
public enum LuoFileKind
{
    Device,
    OutgoingSession,
    IncomingSession,
}

/// <summary>
/// One row of the kernel's ioctl table: the exact request value, how many
/// bytes of the caller's struct are copied in (<see cref="KnownSize"/>), the
/// smallest size accepted, and how many bytes the command writes back at most
/// (<see cref="StructSize"/>, the handler's own struct).
/// </summary>
public sealed record LuoCommand(uint Request, int KnownSize, int MinSize, int StructSize, bool OnOutgoing, bool OnIncoming)
{
    public string Name => LuoRequest.NameOf(Request);

    public bool IsAllowedOn(LuoFileKind kind) => kind switch
    {
        LuoFileKind.OutgoingSession => OnOutgoing,
        LuoFileKind.IncomingSession => OnIncoming,
        _ => true,
    };
}

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

/// <summary>The per-file ioctl tables of spec §2.1 and §2.2.</summary>
public sealed class LuoCommandTable
{
    public const uint DeviceBase = 0x00;
    public const uint SessionBase = 0x40;

    private readonly LuoCommand[] _device;
    private readonly LuoCommand[] _session;

    public LuoCommandTable(LuoBehaviour behaviour)
    {
        _device =
        [
            new(LuoRequest.CreateSession, 72, 72, 72, true, true),
            new(LuoRequest.RetrieveSession, 72, 72, 72, true, true),
        ];
        int getNameSize = behaviour.GetNameFix ? 72 : 16;
        _session =
        [
            new(LuoRequest.PreserveFd, 16, 16, 16, OnOutgoing: true, OnIncoming: false),
            new(LuoRequest.RetrieveFd, 16, 16, 16, OnOutgoing: false, OnIncoming: true),
            new(LuoRequest.Finish, 8, 8, 8, OnOutgoing: false, OnIncoming: true),
            new(LuoRequest.GetName, getNameSize, getNameSize, 72, OnOutgoing: true, OnIncoming: true),
        ];
    }

    /// <summary>The row for <paramref name="nr"/> on this kind of file, or null
    /// when the nr is outside the file's range (the kernel's EINVAL).</summary>
    public LuoCommand? Find(LuoFileKind kind, uint nr)
    {
        if (kind == LuoFileKind.Device)
            return nr - DeviceBase < (uint)_device.Length ? _device[nr - DeviceBase] : null;
        return nr - SessionBase < (uint)_session.Length ? _session[nr - SessionBase] : null;
    }
}
