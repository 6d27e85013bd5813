using System.Globalization;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Interop;

/// <summary>
/// Which processes can write a set of memfds (or unlinked tmpfs files): those
/// that have one of them open (/proc/PID/fd) or mapped (/proc/PID/maps).
/// Matched by inode, and nothing a process holds is ever stat()ed or opened:
/// the daemon asks this on its single FUSE thread, and a stat of a file on its
/// own mount would wait for that very thread. An open fd is matched by the
/// mount id and inode number /proc/PID/fdinfo/N shows (read only for fds whose
/// link names a memfd or a deleted file, the only shapes a preserved file can
/// have); a mapping by the device and inode numbers of its maps line.
/// </summary>
public sealed unsafe class MemfdUsers
{
    private const string Deleted = " (deleted)";
    private const uint StatxInode = 0x100;
    private const uint StatxMountId = 0x1000;

    private readonly HashSet<(int MountId, ulong Inode)> _open;
    private readonly HashSet<(uint Major, uint Minor, ulong Inode)> _mapped;

    private MemfdUsers(HashSet<(int, ulong)> open, HashSet<(uint, uint, ulong)> mapped)
    {
        _open = open;
        _mapped = mapped;
    }

    /// <summary>The users of <paramref name="memfds"/> (the daemon's own fds of
    /// them: one statx each gives the mount id, device and inode, the same
    /// numbers fdinfo and maps show; a durable freeze of thousands of memfds
    /// asks this once per memfd).</summary>
    public static (Errno Error, MemfdUsers? Users) Of(IEnumerable<SafeFd> memfds)
    {
        var open = new HashSet<(int, ulong)>();
        var mapped = new HashSet<(uint, uint, ulong)>();
        byte* statx = stackalloc byte[256];
        foreach (SafeFd memfd in memfds)
        {
            if (Libc.Statx(memfd, "", Libc.AT_EMPTY_PATH | Libc.AT_STATX_DONT_SYNC, StatxInode | StatxMountId, statx) < 0)
                return (Libc.LastErrno, null);
            // struct statx: stx_mask at 0, stx_ino at 32, stx_dev_major/minor at 136/140, stx_mnt_id at 144.
            if ((*(uint*)statx & StatxMountId) == 0)
                return (Errno.EIO, null);
            ulong inode = *(ulong*)(statx + 32);
            open.Add(((int)*(ulong*)(statx + 144), inode));
            mapped.Add((*(uint*)(statx + 136), *(uint*)(statx + 140), inode));
        }
        return (Errno.None, new MemfdUsers(open, mapped));
    }

    /// <summary>Process <paramref name="pid"/> has one of the memfds open or mapped
    /// (false when it is gone or its /proc entries cannot be read).</summary>
    public bool AreUsedBy(int pid) => _open.Count > 0 && (HasOpen(pid) || HasMapped(pid));

    private bool HasOpen(int pid)
    {
        string directory = $"/proc/{pid}/fd";
        foreach (string fd in ProcFs.Names(directory))
        {
            string? target = ProcFs.ReadLink($"{directory}/{fd}");
            if (target is null || !(target.StartsWith("/memfd:", StringComparison.Ordinal) || target.EndsWith(Deleted, StringComparison.Ordinal)))
                continue;
            if (FdInfoIdentity($"/proc/{pid}/fdinfo/{fd}") is { } identity && _open.Contains(identity))
                return true;
        }
        return false;
    }

    /// <summary>Each maps line: "start-end perms offset MAJOR:MINOR INODE [path]",
    /// device numbers in hex, inode in decimal. Only lines of unlinked files
    /// (" (deleted)": every memfd is one) are parsed; a large process has
    /// thousands of other lines.</summary>
    private bool HasMapped(int pid)
    {
        string? maps = ProcFs.ReadText($"/proc/{pid}/maps");
        if (maps is null || !maps.Contains(Deleted, StringComparison.Ordinal))
            return false;
        foreach (ReadOnlySpan<char> line in maps.AsSpan().EnumerateLines())
        {
            if (!line.EndsWith(Deleted, StringComparison.Ordinal))
                continue;
            ReadOnlySpan<char> rest = line;
            for (int skip = 0; skip < 3; skip++)
                rest = NextField(rest, out _);
            rest = NextField(rest, out ReadOnlySpan<char> device);
            NextField(rest, out ReadOnlySpan<char> inodeText);
            int colon = device.IndexOf(':');
            if (colon < 0 || inodeText is "0"
                || !uint.TryParse(device[..colon], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint major)
                || !uint.TryParse(device[(colon + 1)..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint minor)
                || !ulong.TryParse(inodeText, NumberStyles.None, CultureInfo.InvariantCulture, out ulong inode))
                continue;
            if (_mapped.Contains((major, minor, inode)))
                return true;
        }
        return false;
    }

    private static ReadOnlySpan<char> NextField(ReadOnlySpan<char> text, out ReadOnlySpan<char> field)
    {
        text = text.TrimStart(' ');
        int end = text.IndexOf(' ');
        field = end < 0 ? text : text[..end];
        return end < 0 ? [] : text[end..];
    }

    /// <summary>"mnt_id:" and "ino:" of an fdinfo file (the kernel prints both since 5.14).</summary>
    private static (int MountId, ulong Inode)? FdInfoIdentity(string path)
    {
        string? info = ProcFs.ReadText(path);
        if (info is null)
            return null;
        int? mountId = null;
        ulong? inode = null;
        foreach (ReadOnlySpan<char> line in info.AsSpan().EnumerateLines())
        {
            if (line.StartsWith("mnt_id:") && int.TryParse(line[7..].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int m))
                mountId = m;
            else if (line.StartsWith("ino:") && ulong.TryParse(line[4..].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out ulong i))
                inode = i;
        }
        return mountId is { } id && inode is { } ino ? (id, ino) : null;
    }
}
