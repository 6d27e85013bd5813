using System.Runtime.InteropServices;

namespace LiveUpdateFs.Interop.Libfuse;

/// <summary>
/// The part of libfuse3's low-level API (fuse_lowlevel.h, libfuse 3.14) the
/// daemon uses. Struct layouts (this folder) are x86_64 and checked against
/// the C headers by the test suite (NativeLayoutTests).
/// </summary>
public static unsafe partial class FuseNative
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
