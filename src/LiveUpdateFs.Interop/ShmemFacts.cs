namespace LiveUpdateFs.Interop;

/// <summary>What fstat, fstatfs and F_GET_SEALS say of a shmem or hugetlbfs
/// file (<see cref="ShmemProbe"/>).</summary>
/// <param name="FileSystemType">fstatfs's f_type: <see cref="TmpfsMagic"/>,
/// <see cref="HugetlbfsMagic"/>, or another file system that answers F_GET_SEALS.</param>
public readonly record struct ShmemFacts(long FileSystemType, bool IsRegular, ulong LinkCount, ulong Device, ulong Inode, long Size, int Seals)
{
    public const long TmpfsMagic = 0x01021994;
    public const long HugetlbfsMagic = 0x958458f6;
}
