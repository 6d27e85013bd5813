using System.Runtime.InteropServices;

namespace LiveUpdateFs.Interop.Libfuse;

/// <summary>struct fuse_buf.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct FuseBuf
{
    public nuint Size;
    public int Flags;
    public void* Mem;
    public int Fd;
    public long Pos;
}
