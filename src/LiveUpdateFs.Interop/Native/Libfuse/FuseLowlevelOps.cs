using System.Runtime.InteropServices;

namespace LiveUpdateFs.Interop.Libfuse;

/// <summary>struct fuse_lowlevel_ops: 44 function pointers in header order.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct FuseLowlevelOps
{
    public delegate* unmanaged<nint, FuseConnInfo*, void> Init;
    public nint Destroy;
    public delegate* unmanaged<nint, ulong, byte*, void> Lookup;
    public nint Forget;
    public delegate* unmanaged<nint, ulong, FuseFileInfo*, void> Getattr;
    public delegate* unmanaged<nint, ulong, KernelStat*, int, FuseFileInfo*, void> Setattr;
    public nint Readlink;
    public nint Mknod;
    public nint Mkdir;
    public nint Unlink;
    public nint Rmdir;
    public nint Symlink;
    public nint Rename;
    public nint Link;
    public delegate* unmanaged<nint, ulong, FuseFileInfo*, void> Open;
    public delegate* unmanaged<nint, ulong, nuint, long, FuseFileInfo*, void> Read;
    public delegate* unmanaged<nint, ulong, byte*, nuint, long, FuseFileInfo*, void> Write;
    public delegate* unmanaged<nint, ulong, FuseFileInfo*, void> Flush;
    public delegate* unmanaged<nint, ulong, FuseFileInfo*, void> Release;
    public nint Fsync;
    public nint Opendir;
    public delegate* unmanaged<nint, ulong, nuint, long, FuseFileInfo*, void> Readdir;
    public nint Releasedir;
    public nint Fsyncdir;
    public nint Statfs;
    public nint Setxattr;
    public nint Getxattr;
    public nint Listxattr;
    public nint Removexattr;
    public nint Access;
    public nint Create;
    public nint Getlk;
    public nint Setlk;
    public nint Bmap;
    public delegate* unmanaged<nint, ulong, uint, nint, FuseFileInfo*, uint, void*, nuint, nuint, void> Ioctl;
    public nint Poll;
    public nint WriteBuf;
    public nint RetrieveReply;
    public nint ForgetMulti;
    public nint Flock;
    public nint Fallocate;
    public nint Readdirplus;
    public nint CopyFileRange;
    public nint Lseek;
}
