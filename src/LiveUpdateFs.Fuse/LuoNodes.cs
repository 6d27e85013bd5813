using LiveUpdateFs.Interop;

namespace LiveUpdateFs.Fuse;

/// <summary>Who may open the device (and with it the session and control
/// nodes): permission bits and group. The owner is always the daemon's user.</summary>
/// <param name="Mode">rw bits for owner and group, e.g. 0600 (the default, the kernel's) or 0660.</param>
public sealed record NodeAccess(uint Mode, uint Gid)
{
    /// <summary>Mode 0600, the daemon's group: as the kernel's misc device without .mode.</summary>
    public static NodeAccess Default => new(0x180, ProcessControl.EffectiveGid);

    /// <summary>What <paramref name="mode"/> (octal) and <paramref name="group"/>
    /// (a name or a gid) give, or why they cannot: only read/write bits for
    /// owner and group (0600, 0660, 0640...); nobody else, and never execute.</summary>
    public static NodeAccess? Parse(string? mode, string? group, out string? problem)
    {
        problem = null;
        uint bits = Default.Mode;
        if (mode is not null)
        {
            try
            {
                bits = Convert.ToUInt32(mode, 8);
            }
            catch (Exception e) when (e is FormatException or OverflowException or ArgumentException)
            {
                problem = $"--device-mode '{mode}' is not an octal mode such as 0660";
                return null;
            }
            if ((bits & ~0x1B0u) != 0 || (bits & 0x180) != 0x180)
            {
                problem = $"--device-mode {mode}: use rw for the owner and at most rw for the group (0600, 0640, 0660); other users get nothing, as LUO holds other processes' memory";
                return null;
            }
        }
        uint gid = Default.Gid;
        if (group is not null)
        {
            uint? found = UserDatabase.GroupId(group);
            if (found is null)
            {
                problem = $"--device-group '{group}' is neither a group name nor a numeric gid of this system";
                return null;
            }
            gid = found.Value;
        }
        return new NodeAccess(bits, gid);
    }
}

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

    /// <summary>Per-session nodes: SessionBase + ticket.</summary>
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
    private static readonly uint OwnerUid = ProcessControl.EffectiveUid;

    public NodeAttributes RootAttributes => Owned(Root, Directory | 0x1ED /* 0755 */, linkCount: 2);

    public NodeAttributes DeviceAttributes => Owned(Device, Regular | access.Mode);

    /// <summary>The preload library of every program that may use the device asks here.</summary>
    public NodeAttributes ControlAttributes => Owned(Control, Regular | access.Mode);

    public NodeAttributes StatusAttributes => Owned(Status, Regular | (access.Mode & ReadBits));

    public NodeAttributes DaemonAttributes => Owned(Daemon, Regular | (access.Mode & ReadBits));

    /// <summary>Only the process whose request made the session fd may open
    /// its node (checked at open); the mode lets that process's user or group in.</summary>
    public NodeAttributes SessionAttributes(ulong inode) => Owned(inode, Regular | access.Mode);

    private NodeAttributes Owned(ulong inode, uint mode, ulong linkCount = 1) =>
        new(inode, mode, linkCount, Uid: OwnerUid, Gid: access.Gid);
}
