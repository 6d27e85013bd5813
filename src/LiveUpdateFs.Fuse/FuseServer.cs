using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Interop.Libfuse;
using LiveUpdateFs.Uapi;
using Serilog;

namespace LiveUpdateFs.Fuse;

/// <summary>
/// One FUSE mount served by libfuse's low-level API on a single thread.
/// One thread on purpose: requests are handled in the order the kernel
/// queued them, so the asynchronous RELEASE of a closed session fd is always
/// handled before a request the same program makes after close() returned
/// (docs/fuse.md §6, §7).
/// </summary>
public sealed unsafe class FuseServer : IFuseLoop, IDisposable
{
    private const uint FuseIoctlCompat = 1 << 0;
    private const double NoCaching = 0.0;

    /// <summary>The timeout of a <see cref="FuseReply.Lasting"/> answer: a year,
    /// longer than any daemon serves (a new daemon is a new mount).</summary>
    private const double ForTheDaemonsLife = 365 * 24 * 3600.0;

    /// <summary>A name no node has: its LOOKUP is answered ENOENT, which the
    /// kernel does not cache (entry timeout 0), so every stat of it reaches us.</summary>
    private const string WakeName = ".liveupdatefs-stop";

    private readonly IFuseFileSystem _fileSystem;
    private readonly ILogger _log;
    private readonly List<HeldRequest> _held = [];
    private readonly System.Collections.Concurrent.ConcurrentQueue<Action> _posted = new();

    /// <summary>Held while a request, a held request's replay or posted work
    /// runs, and by <see cref="Exclusive{T}"/>: the file system's state has
    /// one owner at a time. Uncontended on the serving thread unless a
    /// seccomp listener thread acts (docs/seccomp.md §3.2).</summary>
    private readonly object _gate = new();
    private GCHandle _self;
    private nint _session;
    private bool _mounted;
    private volatile bool _stopRequested;
    private readonly SemaphoreSlim _wakeRequests = new(0);
    private int _wakePending;

    /// <summary>The thread of <see cref="WakeLoop"/>, whose LOOKUPs are no
    /// program's requests (<see cref="Requests"/> leaves them out).</summary>
    private volatile int _wakerThreadId;
    private volatile bool _disposed;

    private FuseServer(IFuseFileSystem fileSystem, ILogger log)
    {
        _fileSystem = fileSystem;
        _log = log.ForContext<FuseServer>();
        _self = GCHandle.Alloc(this);
    }

    public string Mountpoint { get; private set; } = "";

    public FuseRequestCounts Requests { get; } = new();

    /// <summary>Creates the session and mounts it; throws with the fix in the message.</summary>
    public static FuseServer Mount(string mountpoint, IFuseFileSystem fileSystem, string options, ILogger log)
    {
        var server = new FuseServer(fileSystem, log);
        try
        {
            server.CreateAndMount(mountpoint, options);
            return server;
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    private void CreateAndMount(string mountpoint, string options)
    {
        string[] argv = ["liveupdatefs", "-o", options];
        byte*[] pointers = new byte*[argv.Length];
        try
        {
            for (int i = 0; i < argv.Length; i++)
                pointers[i] = (byte*)Marshal.StringToCoTaskMemUTF8(argv[i]);
            fixed (byte** argvPtr = pointers)
            {
                var args = new FuseArgs { Argc = argv.Length, Argv = argvPtr, Allocated = 0 };
                FuseLowlevelOps ops = Callbacks.Table();
                _session = FuseNative.SessionNew(&args, &ops, (nuint)sizeof(FuseLowlevelOps), GCHandle.ToIntPtr(_self));
            }
        }
        finally
        {
            foreach (byte* p in pointers)
                Marshal.FreeCoTaskMem((nint)p);
        }
        if (_session == 0)
            throw new InvalidOperationException($"libfuse refused the mount options '{options}'; this is a bug in liveupdatefs, please report it with the log above");
        if (FuseNative.SessionMount(_session, mountpoint) != 0)
            throw new InvalidOperationException(
                $"could not mount FUSE at {mountpoint}: check that /dev/fuse exists (in Docker: --device /dev/fuse --cap-add SYS_ADMIN), that you are root, and that nothing else is mounted there (liveupdatefs unmount --mountpoint {mountpoint})");
        _mounted = true;
        Mountpoint = mountpoint;
        // One waker for the daemon's life: a wake-up never needs a new thread
        // (which a pids limit could refuse just when a caller exits).
        new Thread(WakeLoop) { IsBackground = true, Name = "fuse-wake" }.Start();
    }

    /// <summary>Serves requests until <see cref="Stop"/> or until the mount goes away.</summary>
    /// <remarks>
    /// Blocks in read(2) on /dev/fuse, as fuse_session_loop does: one syscall
    /// to wait for and take a request. A poll(2) on /dev/fuse plus a wake fd
    /// before every read cost an extra syscall and the poll wait-queue set-up
    /// and tear-down on every request (measured: ~1.2x the C peer's round
    /// trip). <see cref="Stop"/> wakes the read with a request of its own.
    /// </remarks>
    public void Run()
    {
        var buffer = new FuseBuf();
        try
        {
            // The flag is checked after every request: Stop sets it before it
            // queues its wake-up request, so either this check sees it or the
            // read below returns that request and the next check sees it.
            while (!_stopRequested && FuseNative.SessionExited(_session) == 0)
            {
                int received = FuseNative.SessionReceiveBuf(_session, &buffer);
                if (received == -Errno.EINTR.Value || received == -Errno.EAGAIN.Value)
                    continue;
                if (received <= 0)
                {
                    // 0 or ENODEV: the file system was unmounted.
                    _log.Information("The mount at {Mountpoint} went away; the daemon stops", Mountpoint);
                    return;
                }
                FuseNative.SessionProcessBuf(_session, &buffer);
                if (!_posted.IsEmpty)
                    RunPosted();
            }
        }
        finally
        {
            NativeMemory.Free(buffer.Mem);
        }
    }

    /// <summary>Makes <see cref="Run"/> return promptly; safe from any thread
    /// (a PosixSignalRegistration handler, a test), not from a raw signal handler.</summary>
    /// <remarks>
    /// Run blocks in read(2), so the wake-up is a request: the waker
    /// thread stats <see cref="WakeName"/> in the mount, a LOOKUP that Run
    /// answers (ENOENT) before it sees the flag. The thread only waits for
    /// that answer, or for the connection's end if Run has already returned.
    /// Ways without a thread do not work here: FUSE_NOTIFY_RETRIEVE (a
    /// request the kernel queues for the daemon itself) is refused (EINVAL)
    /// for anything but a regular file, and the kernel may forget those;
    /// a signal needs a handler installed without SA_RESTART, which .NET's
    /// are not, and managed code cannot run in a raw signal handler. A mount
    /// detached with umount -l is out of reach by path, but it ends by itself
    /// when its last fd closes (the read then returns ENODEV).
    /// </remarks>
    public void Stop()
    {
        _stopRequested = true;
        Poke();
    }

    /// <summary>Runs <paramref name="work"/> on the serving thread, after the
    /// request it is handling (if any); safe from any thread. Woken the same
    /// way as <see cref="Stop"/>. Work posted after Run returned is dropped.</summary>
    public void Post(Action work)
    {
        _posted.Enqueue(work);
        Poke();
    }

    public T Exclusive<T>(Func<T> work)
    {
        lock (_gate)
            return work();
    }

    /// <summary>Answers the held requests again (on the serving thread, after
    /// the state that held them changed): each is handled anew and either
    /// answered now or held again, in the order it arrived.</summary>
    public void ReplayHeld()
    {
        if (_held.Count == 0)
            return;
        HeldRequest[] held = [.. _held];
        _held.Clear();
        foreach (HeldRequest request in held)
        {
            FuseReply reply;
            try
            {
                reply = request.Retry(_fileSystem);
            }
            catch (Exception ex)
            {
                _log.Error(ex, "FUSE {Operation} failed inside the daemon when it was answered after a hold; the caller gets EIO. Please report this with the log", request.Operation);
                reply = FuseReply.Fail(Errno.EIO);
            }
            if (reply.Kind == FuseReplyKind.Held)
            {
                _held.Add(request);
                continue;
            }
            Callbacks.Send(this, request.Req, reply, request.FileInfo, 0, 0);
            request.Dispose();
        }
    }

    /// <summary>The wake-up of <see cref="Run"/>'s blocking read: a request of
    /// our own, made by the waker thread. Wake-ups asked for before it runs
    /// are one: a single request wakes Run once for all of them.</summary>
    private void Poke()
    {
        if (_mounted && Interlocked.Exchange(ref _wakePending, 1) == 0)
            _wakeRequests.Release();
    }

    private void WakeLoop()
    {
        _wakerThreadId = CallerThread.OwnThreadId;
        string wake = Path.Combine(Mountpoint, WakeName);
        while (true)
        {
            _wakeRequests.Wait();
            if (_disposed)
                return;
            Volatile.Write(ref _wakePending, 0);
            try
            {
                File.Exists(wake);
            }
            catch (Exception)
            {
                // The mount is going away: Run has returned or is about to.
            }
        }
    }

    private void RunPosted()
    {
        while (_posted.TryDequeue(out Action? work))
        {
            try
            {
                lock (_gate)
                    work();
            }
            catch (Exception ex)
            {
                _log.Error(ex, "Deferred work on the FUSE thread failed; the daemon goes on serving. Please report this with the log");
            }
        }
    }

    /// <summary>A request answered later (<see cref="FuseReply.Hold"/>): how
    /// to handle it again, and for an open a copy of libfuse's file info,
    /// which lived on libfuse's stack only for the first call.</summary>
    private sealed class HeldRequest(nint req, FuseOperation operation, Func<IFuseFileSystem, FuseReply> retry, FuseFileInfo* fileInfo) : IDisposable
    {
        public nint Req { get; } = req;
        public FuseOperation Operation { get; } = operation;
        public Func<IFuseFileSystem, FuseReply> Retry { get; } = retry;
        public FuseFileInfo* FileInfo { get; private set; } = fileInfo;

        public static HeldRequest Of(nint req, FuseOperation operation, Func<IFuseFileSystem, FuseReply> retry, FuseFileInfo* fileInfo)
        {
            FuseFileInfo* copy = null;
            if (fileInfo is not null)
            {
                copy = (FuseFileInfo*)NativeMemory.Alloc((nuint)sizeof(FuseFileInfo));
                *copy = *fileInfo;
            }
            return new HeldRequest(req, operation, retry, copy);
        }

        public void Dispose()
        {
            NativeMemory.Free(FileInfo);
            FileInfo = null;
        }
    }

    public void Dispose()
    {
        _disposed = true;
        _wakeRequests.Release();
        // What the connection's end would answer anyway, but said by us: every request gets one reply.
        foreach (HeldRequest request in _held)
        {
            FuseNative.ReplyErr(request.Req, Errno.ENOTCONN.Value);
            request.Dispose();
        }
        _held.Clear();
        if (_session != 0)
        {
            if (_mounted)
                FuseNative.SessionUnmount(_session);
            // Closing /dev/fuse aborts the connection: open fds get ENOTCONN, nobody hangs.
            FuseNative.SessionDestroy(_session);
            _session = 0;
        }
        if (_self.IsAllocated)
            _self.Free();
    }

    /// <summary>The static entry points libfuse calls. Each one answers exactly
    /// once, also when the handler throws (EIO, logged).</summary>
    private static class Callbacks
    {
        public static FuseLowlevelOps Table() => new()
        {
            Init = &OnInit,
            Lookup = &OnLookup,
            Getattr = &OnGetattr,
            Setattr = &OnSetattr,
            Open = &OnOpen,
            Read = &OnRead,
            Write = &OnWrite,
            Flush = &OnFlush,
            Release = &OnRelease,
            Readdir = &OnReaddir,
            Ioctl = &OnIoctl,
        };

        private static FuseServer Server(nint req) => (FuseServer)GCHandle.FromIntPtr(FuseNative.ReqUserdata(req)).Target!;

        private static FuseCaller Caller(nint req)
        {
            FuseCtx* ctx = FuseNative.ReqCtx(req);
            return new FuseCaller(ctx->Pid, ctx->Uid, ctx->Gid);
        }

        [UnmanagedCallersOnly]
        private static void OnInit(nint userdata, FuseConnInfo* conn)
        {
            // Releases are background requests: with the default limit of 12
            // a burst of closes would queue behind later requests.
            conn->MaxBackground = 65535;
            conn->CongestionThreshold = 65535;
        }

        [UnmanagedCallersOnly]
        private static void OnLookup(nint req, ulong parent, byte* name) =>
            Answer(req, FuseOperation.Lookup, (Req: req, Parent: parent, Name: (nint)name), static (fs, s) => fs.Lookup(Caller(s.Req), s.Parent, Utf8((byte*)s.Name)));

        [UnmanagedCallersOnly]
        private static void OnGetattr(nint req, ulong ino, FuseFileInfo* fi) =>
            Answer(req, FuseOperation.Getattr, (Req: req, Ino: ino), static (fs, s) => fs.GetAttributes(Caller(s.Req), s.Ino));

        [UnmanagedCallersOnly]
        private static void OnSetattr(nint req, ulong ino, KernelStat* attr, int toSet, FuseFileInfo* fi) =>
            Answer(req, FuseOperation.Setattr, (Req: req, Ino: ino), static (fs, s) => fs.SetAttributes(Caller(s.Req), s.Ino));

        [UnmanagedCallersOnly]
        private static void OnOpen(nint req, ulong ino, FuseFileInfo* fi) =>
            Answer(req, FuseOperation.Open, (Req: req, Ino: ino, Flags: fi->Flags), static (fs, s) => fs.Open(Caller(s.Req), s.Ino, s.Flags), fi);

        [UnmanagedCallersOnly]
        private static void OnRead(nint req, ulong ino, nuint size, long offset, FuseFileInfo* fi) =>
            Answer(req, FuseOperation.Read, (Req: req, Ino: ino, Fi: (nint)fi, Size: size, Offset: offset),
                static (fs, s) => fs.Read(Caller(s.Req), s.Ino, ((FuseFileInfo*)s.Fi)->Fh, s.Offset, (int)Math.Min(s.Size, int.MaxValue)));

        [UnmanagedCallersOnly]
        private static void OnWrite(nint req, ulong ino, byte* buf, nuint size, long offset, FuseFileInfo* fi) =>
            Answer(req, FuseOperation.Write, (Req: req, Ino: ino, Fi: (nint)fi), static (fs, s) => fs.Write(Caller(s.Req), s.Ino, ((FuseFileInfo*)s.Fi)->Fh));

        [UnmanagedCallersOnly]
        private static void OnFlush(nint req, ulong ino, FuseFileInfo* fi) =>
            Answer(req, FuseOperation.Flush, (Req: req, Ino: ino, Fi: (nint)fi), static (fs, s) => fs.Flush(Caller(s.Req), s.Ino, ((FuseFileInfo*)s.Fi)->Fh));

        [UnmanagedCallersOnly]
        private static void OnRelease(nint req, ulong ino, FuseFileInfo* fi) =>
            Answer(req, FuseOperation.Release, (Ino: ino, Fi: (nint)fi), static (fs, s) => fs.Release(s.Ino, ((FuseFileInfo*)s.Fi)->Fh));

        [UnmanagedCallersOnly]
        private static void OnReaddir(nint req, ulong ino, nuint size, long offset, FuseFileInfo* fi) =>
            Answer(req, FuseOperation.Readdir, (Req: req, Ino: ino), static (fs, s) => fs.ReadDirectory(Caller(s.Req), s.Ino), size: size, offset: offset);

        [UnmanagedCallersOnly]
        private static void OnIoctl(nint req, ulong ino, uint cmd, nint arg, FuseFileInfo* fi, uint flags, void* inBuf, nuint inSize, nuint outSize) =>
            Answer(req, FuseOperation.Ioctl, (Req: req, Ino: ino, Fh: fi->Fh, Cmd: cmd, Arg: arg, Flags: flags),
                static (fs, s) => fs.Ioctl(Caller(s.Req), s.Ino, s.Fh, s.Cmd, (ulong)s.Arg, (s.Flags & FuseIoctlCompat) != 0));

        private static string Utf8(byte* text) => Marshal.PtrToStringUTF8((nint)text) ?? "";

        /// <param name="state">The callback's arguments, passed through to a static
        /// <paramref name="handle"/>: a capturing lambda would allocate a closure
        /// and a delegate on every request, ioctls included.</param>
        private static void Answer<TState>(nint req, FuseOperation operation, TState state, Func<IFuseFileSystem, TState, FuseReply> handle,
            FuseFileInfo* fi = null, nuint size = 0, long offset = 0)
        {
            FuseServer? server = null;
            FuseReply reply;
            try
            {
                server = Server(req);
                lock (server._gate)
                {
                    if (operation != FuseOperation.Lookup || Caller(req).ThreadId != server._wakerThreadId)
                        server.Requests.Count(operation);
                    reply = handle(server._fileSystem, state);
                    if (reply.Kind == FuseReplyKind.Held)
                    {
                        // Handled again by ReplayHeld: the state (a value copy) and the
                        // request stay valid until the one reply.
                        server._held.Add(HeldRequest.Of(req, operation, fs => handle(fs, state), fi));
                        return;
                    }
                }
            }
            catch (Exception ex)
            {
                server?._log.Error(ex, "FUSE {Operation} failed inside the daemon; the caller gets EIO. Please report this with the log", operation);
                reply = FuseReply.Fail(Errno.EIO);
            }
            Send(server, req, reply, fi, size, offset);
        }

        public static void Send(FuseServer? server, nint req, in FuseReply reply, FuseFileInfo* fi, nuint size, long offset)
        {
            switch (reply.Kind)
            {
                case FuseReplyKind.Held:
                    FuseNative.ReplyErr(req, Errno.EIO.Value);
                    break;
                case FuseReplyKind.Error:
                    FuseNative.ReplyErr(req, reply.Error.Value);
                    break;
                case FuseReplyKind.Entry:
                    var entry = new FuseEntryParam
                    {
                        Ino = reply.Attributes.Inode,
                        Generation = 1,
                        Attr = ToStat(reply.Attributes),
                        AttrTimeout = reply.Lasting ? ForTheDaemonsLife : NoCaching,
                        EntryTimeout = reply.Lasting ? ForTheDaemonsLife : NoCaching,
                    };
                    FuseNative.ReplyEntry(req, &entry);
                    break;
                case FuseReplyKind.Attributes:
                    KernelStat stat = ToStat(reply.Attributes);
                    FuseNative.ReplyAttr(req, &stat, reply.Lasting ? ForTheDaemonsLife : NoCaching);
                    break;
                case FuseReplyKind.Opened:
                    // direct_io: reads and writes reach the daemon (EINVAL, as
                    // the kernel's device); nonseekable: lseek is ESPIPE;
                    // noflush: close() sends nothing, so the daemon can close a
                    // file of its own mount (a caller's fd it took) without
                    // waiting for itself, and closes cost no round trip.
                    fi->Fh = reply.Handle;
                    fi->Bits |= FuseFileInfo.DirectIo | FuseFileInfo.NonSeekable | FuseFileInfo.NoFlush;
                    FuseNative.ReplyOpen(req, fi);
                    break;
                case FuseReplyKind.Ioctl:
                    FuseNative.ReplyIoctl(req, reply.IoctlValue, null, 0);
                    break;
                case FuseReplyKind.Directory:
                    SendDirectory(req, reply.Entries!, size, offset);
                    break;
                case FuseReplyKind.Data:
                    fixed (byte* data = reply.Data)
                        FuseNative.ReplyBuf(req, data, (nuint)reply.Data!.Length);
                    break;
            }
        }

        private static void SendDirectory(nint req, IReadOnlyList<(string Name, NodeAttributes Attributes)> entries, nuint size, long offset)
        {
            byte[] buffer = new byte[(int)Math.Min(size, 1 << 20)];
            nuint used = 0;
            fixed (byte* start = buffer)
            {
                for (int i = (int)offset; i < entries.Count; i++)
                {
                    KernelStat stat = ToStat(entries[i].Attributes);
                    nuint needed = FuseNative.AddDirentry(req, start + used, (nuint)buffer.Length - used, entries[i].Name, &stat, i + 1);
                    if (needed > (nuint)buffer.Length - used)
                        break;
                    used += needed;
                }
                FuseNative.ReplyBuf(req, start, used);
            }
        }

        private static KernelStat ToStat(in NodeAttributes a) => new()
        {
            Ino = a.Inode,
            Mode = a.Mode,
            Nlink = a.LinkCount,
            Size = a.Size,
            Uid = a.Uid,
            Gid = a.Gid,
            BlkSize = 4096,
        };
    }
}
