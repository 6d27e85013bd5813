using System.Runtime.InteropServices;

namespace LiveUpdateFs.Interop.Libfuse;

/// <summary>struct fuse_ctx: who made the request being answered.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseCtx
{
    public uint Uid;
    public uint Gid;
    public int Pid;
    public uint Umask;
}
