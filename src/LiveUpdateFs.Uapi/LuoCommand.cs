namespace LiveUpdateFs.Uapi;

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
