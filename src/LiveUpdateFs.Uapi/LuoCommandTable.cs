namespace LiveUpdateFs.Uapi;

/// <summary>The per-file ioctl tables of docs/behaviour.md §2.1 and §2.2.</summary>
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
