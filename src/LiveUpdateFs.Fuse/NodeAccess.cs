using LiveUpdateFs.Interop;

namespace LiveUpdateFs.Fuse;

/// <summary>Who may open the device (and with it the session and control
/// nodes): permission bits and group. The owner is always the daemon's user.</summary>
/// <param name="Mode">rw bits for owner and group, e.g. 0600 (the default, the kernel's) or 0660.</param>
public sealed record NodeAccess(uint Mode, uint Gid)
{
    /// <summary>Mode 0600, the daemon's group: as the kernel's misc device without .mode.</summary>
    public static NodeAccess Default => new(0x180, CurrentUser.EffectiveGid);

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
