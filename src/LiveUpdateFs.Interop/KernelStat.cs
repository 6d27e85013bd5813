using System.Runtime.InteropServices;

namespace LiveUpdateFs.Interop;

/// <summary>struct stat on x86_64 (144 bytes): what fstat fills in and what
/// libfuse takes as a node's attributes.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KernelStat
{
    public ulong Dev;
    public ulong Ino;
    public ulong Nlink;
    public uint Mode;
    public uint Uid;
    public uint Gid;
    private int _pad0;
    public ulong Rdev;
    public long Size;
    public long BlkSize;
    public long Blocks;
    public long AtimeSec;
    public long AtimeNsec;
    public long MtimeSec;
    public long MtimeNsec;
    public long CtimeSec;
    public long CtimeNsec;
    private long _reserved0;
    private long _reserved1;
    private long _reserved2;
}
