using System.Runtime.InteropServices;

namespace LiveUpdateFs.Interop;

/// <summary>
/// Tells whether a range of a caller's memory can be read or written
/// without waiting on a FUSE server. process_vm_readv faults pages in; a page
/// of a file on a FUSE mount is read from that mount's server, which may
/// never answer (or be this daemon). Each VMA is looked up with
/// PROCMAP_QUERY (an ioctl on /proc/TID/maps, ~1 us) and is readable when it
/// is anonymous, a shmem file (memfds, shared anonymous memory), on a block
/// device, or on any listed mount that is not FUSE (docs/blocking.md).
/// Thread-safe (the FUSE thread and the slow-work thread use it). The maps
/// file of each caller thread stays open while the thread lives: opening it
/// costs ~12 us, a query ~1 us; <paramref name="exits"/> closes it when the
/// thread exits, so the daemon keeps no fd for a caller that is gone.
/// </summary>
public sealed unsafe class MappingGuard(ExitWatcher exits) : IDisposable
{
    private const uint ProcmapQuery = 0xC0686611; // _IOWR('f', 17, struct procmap_query)
    private const int MaxCached = 64;

    [StructLayout(LayoutKind.Sequential)]
    private struct ProcmapQueryArgs
    {
        public ulong Size;
        public ulong QueryFlags;
        public ulong QueryAddr;
        public ulong VmaStart;
        public ulong VmaEnd;
        public ulong VmaFlags;
        public ulong VmaPageSize;
        public ulong VmaOffset;
        public ulong Inode;
        public uint DevMajor;
        public uint DevMinor;
        public uint VmaNameSize;
        public uint BuildIdSize;
        public ulong VmaNameAddr;
        public ulong BuildIdAddr;
    }

    /// <summary>The maps file of one caller thread, open while that thread lives.</summary>
    private sealed class Maps(SafeFd pidfd, SafeFd maps) : IDisposable
    {
        public SafeFd Pidfd { get; } = pidfd;
        public SafeFd File { get; } = maps;
        public Dictionary<(uint, uint), bool> DeviceIsSafe { get; } = [];
        public long LastUse { get; set; }
        public long ExitWatch { get; set; }

        public void Dispose()
        {
            File.Dispose();
            Pidfd.Dispose();
        }
    }

    private readonly object _lock = new();
    private readonly Dictionary<int, Maps> _maps = [];
    private readonly HashSet<(uint, uint)> _internalShmem = InternalShmemDevices();
    private long _clock;

    /// <summary>
    /// How far from <paramref name="address"/> (up to <paramref name="length"/>
    /// bytes) thread <paramref name="threadId"/>'s memory can be accessed
    /// without a FUSE server's help: the end of the safe prefix (address
    /// itself: nothing). An unmapped part counts as safe (the access faults
    /// there at once, EFAULT). Nothing is safe when the maps cannot be
    /// queried (the access is refused rather than risked).
    /// </summary>
    /// <param name="checkedRange">The whole VMAs found safe, for the caller to
    /// skip later checks within them; empty when none.</param>
    public ulong SafeEnd(int threadId, ulong address, ulong length, out (ulong Start, ulong End) checkedRange)
    {
        checkedRange = default;
        lock (_lock)
        {
            if (MapsOf(threadId) is not { } maps)
                return address;
            ulong end = address + length;
            ulong at = address;
            bool reopened = false;
            while (at < end)
            {
                var query = new ProcmapQueryArgs { Size = (ulong)sizeof(ProcmapQueryArgs), QueryAddr = at };
                if (Libc.Ioctl(maps.File, ProcmapQuery, (byte*)&query) != 0)
                {
                    Uapi.Errno error = Libc.LastErrno;
                    // ESRCH: the maps file is of an address space the thread left
                    // by execve (same thread id, new memory): open it anew, once.
                    if (error == Uapi.Errno.ESRCH && !reopened)
                    {
                        reopened = true;
                        Forget(threadId, maps);
                        if (MapsOf(threadId) is not { } fresh)
                            return address;
                        maps = fresh;
                        continue;
                    }
                    return error == Uapi.Errno.ENOENT ? end : at; // not mapped: the access faults there at once
                }
                // Anonymous memory has device 0:0 and inode 0; a FUSE server may call its files inode 0, never device 0:0.
                bool anonymous = query.DevMajor == 0 && query.DevMinor == 0 && query.Inode == 0;
                if (!anonymous && !IsSafeDevice(threadId, maps, query.DevMajor, query.DevMinor))
                    break;
                if (at == address)
                    checkedRange.Start = query.VmaStart;
                checkedRange.End = query.VmaEnd;
                at = query.VmaEnd;
            }
            return Math.Min(at, end);
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach ((int threadId, Maps maps) in _maps.ToList())
                Forget(threadId, maps);
        }
    }

    private bool IsSafeDevice(int threadId, Maps maps, uint major, uint minor)
    {
        if (major != 0 || _internalShmem.Contains((major, minor)))
            return true;
        if (!maps.DeviceIsSafe.TryGetValue((major, minor), out bool safe))
        {
            string? type = MountTable.TypeOfDevice(threadId.ToString(System.Globalization.CultureInfo.InvariantCulture), $"{major}:{minor}");
            // Not listed: a mount detached with umount -l, or an internal one
            // other than shmem; either may be FUSE as far as we can tell.
            safe = type is not null && !type.StartsWith("fuse", StringComparison.Ordinal);
            maps.DeviceIsSafe[(major, minor)] = safe;
        }
        return safe;
    }

    /// <summary>The cached maps file of the thread, if the thread is still the
    /// one it was opened for (its pidfd has not turned readable); else a new one.</summary>
    private Maps? MapsOf(int threadId)
    {
        if (_maps.TryGetValue(threadId, out Maps? cached))
        {
            if (!ProcessPin.Exited(cached.Pidfd))
            {
                cached.LastUse = ++_clock;
                return cached;
            }
            Forget(threadId, cached);
        }
        var pidfd = new SafeFd(Libc.PidfdOpen(threadId, Libc.PIDFD_THREAD));
        var file = new SafeFd(Libc.Open($"/proc/{threadId}/maps", Libc.O_RDONLY | Libc.O_CLOEXEC, 0));
        if (pidfd.IsInvalid || file.IsInvalid)
        {
            pidfd.Dispose();
            file.Dispose();
            return null;
        }
        if (_maps.Count >= MaxCached)
        {
            var oldest = _maps.MinBy(m => m.Value.LastUse);
            Forget(oldest.Key, oldest.Value);
        }
        var maps = new Maps(pidfd, file) { LastUse = ++_clock };
        _maps[threadId] = maps;
        maps.ExitWatch = exits.Add(pidfd, () =>
        {
            lock (_lock)
            {
                if (_maps.TryGetValue(threadId, out Maps? current) && current == maps)
                    Forget(threadId, maps);
            }
        });
        return maps;
    }

    private void Forget(int threadId, Maps maps)
    {
        _maps.Remove(threadId);
        exits.Cancel(maps.ExitWatch);
        maps.Dispose();
    }

    /// <summary>The devices of the kernel's internal shmem mounts (memfds,
    /// shared anonymous memory; hugetlb memfds), which no mountinfo lists.</summary>
    private static HashSet<(uint, uint)> InternalShmemDevices()
    {
        var devices = new HashSet<(uint, uint)>();
        foreach (uint flags in new[] { Libc.MFD_CLOEXEC, Libc.MFD_CLOEXEC | MfdHugetlb })
        {
            using var memfd = new SafeFd(Libc.MemfdCreate("liveupdatefs-probe", flags));
            if (!memfd.IsInvalid && Libc.Fstat(memfd, out KernelStat stat) == 0)
                devices.Add(DeviceNumbers(stat.Dev));
        }
        return devices;
    }

    private const uint MfdHugetlb = 0x4;

    /// <summary>glibc's gnu_dev_major/minor.</summary>
    private static (uint Major, uint Minor) DeviceNumbers(ulong dev) =>
        ((uint)(((dev >> 8) & 0xfff) | ((dev >> 32) & ~0xfffUL)), (uint)((dev & 0xff) | ((dev >> 12) & ~0xffUL)));
}
