using LiveUpdateFs.Interop;

namespace LiveUpdateFs.Fuse;

/// <summary>The fixed nodes of the mount and the inode range of per-session nodes.</summary>
/// <param name="access">Applies to the device, control and session nodes; status.json gets its read bits.</param>
public sealed class LuoNodes(NodeAccess access)
{
    public const ulong Root = 1;
    public const ulong Device = 2;
    public const ulong Control = 3;
    public const ulong Status = 4;

    /// <summary>The daemon's pid, for the preload library's PR_SET_PTRACER
    /// (src/native/lufs-envelope.h LUFS_DAEMON_NODE): a read that costs one
    /// small answer, where status.json renders the whole state.</summary>
    public const ulong Daemon = 5;

    /// <summary>Per-session nodes: SessionBase + node number (<see cref="SessionNodeNumbers"/>).</summary>
    public const ulong SessionBase = 1UL << 32;

    public const string DeviceName = "liveupdate";

    /// <summary>A name no node has, looked up by the seccomp listener thread
    /// to wait for the FUSE queue (TrappedCalls.DrainFuseQueue): ENOENT.</summary>
    public const string BarrierName = ".lufs-barrier";
    public const string StatusName = "status.json";
    public const string DaemonName = ".lufs-daemon";

    private const uint Directory = 0x4000;
    private const uint Regular = 0x8000;
    private const uint ReadBits = 0x124;

    /// <summary>The nodes belong to the daemon's user: root, or the user who
    /// mounted without root (then only that user's programs may open them).</summary>
    private static readonly uint OwnerUid = CurrentUser.EffectiveUid;

    public NodeAttributes RootAttributes => Owned(Root, Directory | 0x1ED /* 0755 */, linkCount: 2);

    public NodeAttributes DeviceAttributes => Owned(Device, Regular | access.Mode);

    /// <summary>The preload library of every program that may use the device asks here.</summary>
    public NodeAttributes ControlAttributes => Owned(Control, Regular | access.Mode);

    public NodeAttributes StatusAttributes => Owned(Status, Regular | (access.Mode & ReadBits));

    public NodeAttributes DaemonAttributes => Owned(Daemon, Regular | (access.Mode & ReadBits));

    /// <summary>Only the thread whose request made the session fd may open
    /// its node (checked at open); the mode lets that thread's user or group in.
    /// Never changes while the daemon serves: the kernel keeps it (docs/fuse.md §8).</summary>
    public NodeAttributes SessionAttributes(ulong inode) => Owned(inode, Regular | access.Mode);

    private NodeAttributes Owned(ulong inode, uint mode, ulong linkCount = 1) =>
        new(inode, mode, linkCount, Uid: OwnerUid, Gid: access.Gid);
}
