using LiveUpdateFs.Interop;

namespace LiveUpdateFs.Fuse;

/// <summary>The fixed nodes of the mount and the inode range of per-session nodes.</summary>
public static class LuoNodes
{
    public const ulong Root = 1;
    public const ulong Device = 2;
    public const ulong Control = 3;
    public const ulong Status = 4;

    /// <summary>Per-session nodes: SessionBase + ticket.</summary>
    public const ulong SessionBase = 1UL << 32;

    public const string DeviceName = "liveupdate";
    public const string StatusName = "status.json";

    private const uint Directory = 0x4000;
    private const uint Regular = 0x8000;

    /// <summary>The nodes belong to the daemon's user: root, or the user who
    /// mounted without root (then only that user's programs may open them).</summary>
    private static readonly uint OwnerUid = ProcessControl.EffectiveUid;
    private static readonly uint OwnerGid = ProcessControl.EffectiveGid;

    public static NodeAttributes RootAttributes => Owned(Root, Directory | 0x1ED /* 0755 */, linkCount: 2);

    /// <summary>Mode 0600 root, as the kernel's misc device without .mode.</summary>
    public static NodeAttributes DeviceAttributes => Owned(Device, Regular | 0x180);

    public static NodeAttributes ControlAttributes => Owned(Control, Regular | 0x180);

    public static NodeAttributes StatusAttributes => Owned(Status, Regular | 0x100 /* 0400 */);

    public static NodeAttributes SessionAttributes(ulong inode) => Owned(inode, Regular | 0x180);

    private static NodeAttributes Owned(ulong inode, uint mode, ulong linkCount = 1) =>
        new(inode, mode, linkCount, Uid: OwnerUid, Gid: OwnerGid);
}
