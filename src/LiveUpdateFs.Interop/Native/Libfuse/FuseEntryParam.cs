using System.Runtime.InteropServices;

namespace LiveUpdateFs.Interop.Libfuse;

/// <summary>struct fuse_entry_param: a lookup's answer.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseEntryParam
{
    public ulong Ino;
    public ulong Generation;
    public KernelStat Attr;
    public double AttrTimeout;
    public double EntryTimeout;
}
