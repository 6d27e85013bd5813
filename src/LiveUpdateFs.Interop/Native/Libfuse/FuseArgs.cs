using System.Runtime.InteropServices;

namespace LiveUpdateFs.Interop.Libfuse;

/// <summary>struct fuse_args: the mount options handed to fuse_session_new.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct FuseArgs
{
    public int Argc;
    public byte** Argv;
    public int Allocated;
}
