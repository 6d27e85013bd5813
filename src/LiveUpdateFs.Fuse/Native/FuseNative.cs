using System.Runtime.InteropServices;
using LiveUpdateFs.Interop;

namespace LiveUpdateFs.Fuse.Native;

/// <summary>
/// The part of libfuse3's low-level API (fuse_lowlevel.h, libfuse 3.14) the
/// daemon uses. Struct layouts are x86_64 and checked against the C headers by
/// the test suite (FuseLayoutTests).
/// </summary>
internal static unsafe partial class FuseNative
{
    private const string Lib = "libfuse3.so.3";

    [LibraryImport(Lib, EntryPoint = "fuse_session_new")]
    public static partial nint SessionNew(FuseArgs* args, FuseLowlevelOps* ops, nuint opSize, nint userdata);

    [LibraryImport(Lib, EntryPoint = "fuse_session_mount", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SessionMount(nint session, string mountpoint);

    [LibraryImport(Lib, EntryPoint = "fuse_session_unmount")]
    public static partial void SessionUnmount(nint session);

    [LibraryImport(Lib, EntryPoint = "fuse_session_destroy")]
    public static partial void SessionDestroy(nint session);

    [LibraryImport(Lib, EntryPoint = "fuse_session_fd")]
    public static partial int SessionFd(nint session);

    // fuse_session_exited, fuse_req_userdata and fuse_req_ctx only return a
    // field of libfuse's own structs: no syscall, no lock, no callback. They
    // run on every request, so they skip the GC transition (a call into the
    // runtime before and after each P/Invoke): SuppressGCTransition is for
    // exactly such short, non-blocking functions.

    [LibraryImport(Lib, EntryPoint = "fuse_session_exited")]
    [SuppressGCTransition]
    public static partial int SessionExited(nint session);

    [LibraryImport(Lib, EntryPoint = "fuse_session_receive_buf")]
    public static partial int SessionReceiveBuf(nint session, FuseBuf* buffer);

    [LibraryImport(Lib, EntryPoint = "fuse_session_process_buf")]
    public static partial void SessionProcessBuf(nint session, FuseBuf* buffer);

    [LibraryImport(Lib, EntryPoint = "fuse_req_userdata")]
    [SuppressGCTransition]
    public static partial nint ReqUserdata(nint req);

    [LibraryImport(Lib, EntryPoint = "fuse_req_ctx")]
    [SuppressGCTransition]
    public static partial FuseCtx* ReqCtx(nint req);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_err")]
    public static partial int ReplyErr(nint req, int err);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_entry")]
    public static partial int ReplyEntry(nint req, FuseEntryParam* entry);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_attr")]
    public static partial int ReplyAttr(nint req, KernelStat* attr, double attrTimeout);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_open")]
    public static partial int ReplyOpen(nint req, FuseFileInfo* fileInfo);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_buf")]
    public static partial int ReplyBuf(nint req, byte* buffer, nuint size);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_ioctl")]
    public static partial int ReplyIoctl(nint req, int result, void* buffer, nuint size);

    [LibraryImport(Lib, EntryPoint = "fuse_add_direntry", StringMarshalling = StringMarshalling.Utf8)]
    public static partial nuint AddDirentry(nint req, byte* buffer, nuint bufferSize, string name, KernelStat* stat, long nextOffset);
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FuseArgs
{
    public int Argc;
    public byte** Argv;
    public int Allocated;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseCtx
{
    public uint Uid;
    public uint Gid;
    public int Pid;
    public uint Umask;
}

/// <summary>struct fuse_buf.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FuseBuf
{
    public nuint Size;
    public int Flags;
    public void* Mem;
    public int Fd;
    public long Pos;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseEntryParam
{
    public ulong Ino;
    public ulong Generation;
    public KernelStat Attr;
    public double AttrTimeout;
    public double EntryTimeout;
}

/// <summary>struct fuse_file_info: flags, a word of bit fields, fh, lock owner.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FuseFileInfo
{
    public const uint DirectIo = 1u << 1;
    public const uint NonSeekable = 1u << 4;
    public const uint NoFlush = 1u << 7;

    public int Flags;
    public uint Bits;
    public uint Padding2;
    public ulong Fh;
    public ulong LockOwner;
    public uint PollEvents;
}

/// <summary>The head of struct fuse_conn_info (the fields the daemon sets).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FuseConnInfo
{
    public uint ProtoMajor;
    public uint ProtoMinor;
    public uint MaxWrite;
    public uint MaxRead;
    public uint MaxReadahead;
    public uint Capable;
    public uint Want;
    public uint MaxBackground;
    public uint CongestionThreshold;
}

/// <summary>struct fuse_lowlevel_ops: 44 function pointers in header order.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FuseLowlevelOps
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
