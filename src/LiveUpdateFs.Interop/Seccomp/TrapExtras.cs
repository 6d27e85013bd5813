namespace LiveUpdateFs.Interop.Seccomp;

/// <summary>What `liveupdatefs run`'s filter traps besides the three
/// fd-returning requests (docs/seccomp.md §2): each
/// makes the emulator exact where a FUSE file cannot be, at the price of a
/// round trip to the daemon for every such call of the tree.</summary>
[Flags]
public enum TrapExtras
{
    None = 0,

    /// <summary>ftruncate and fallocate: EPERM on a frozen memfd (docs/behaviour.md §8.2).</summary>
    SizeChanges = 1,

    /// <summary>FIONREAD and FIOQSIZE: the kernel's EINVAL/ENOTTY on LUO files.</summary>
    VfsIoctls = 2,

    All = SizeChanges | VfsIoctls,
}
