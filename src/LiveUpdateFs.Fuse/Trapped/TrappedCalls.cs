using LiveUpdateFs.Core.Dispatch;
using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Fuse.Callers;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Interop.Seccomp;
using LiveUpdateFs.Uapi;
using Serilog;
using Serilog.Context;

namespace LiveUpdateFs.Fuse.Trapped;

/// <summary>
/// Answers one trapped call of a `liveupdatefs run` tree (docs/seccomp.md):
/// an fd-returning LUO request on this mount's device or session file is
/// run by the same dispatcher as the FUSE path, and its new fd is installed
/// in the caller with ADDFD (the lowest free number, close-on-exec: one
/// slot, as the kernel); FIONREAD/FIOQSIZE on a LUO file get the kernel's
/// errno; ftruncate/fallocate of a frozen memfd get EPERM. Anything else is
/// CONTINUEd: the kernel runs the call itself. Runs on the listener thread;
/// the file system's state is touched only inside the loop's gate, and
/// never while the daemon opens a node of its own mount (docs/blocking.md).
/// </summary>
internal sealed class TrappedCalls(LuoFileSystem fileSystem, IFuseLoop loop, string mountpoint, ExitWatcher exits, ILogger log, TimeSpan pauseBeforeInstall)
{
    private readonly ILogger _log = log.ForContext<TrappedCalls>();
    // This thread's own: the FUSE thread's guard caches per-thread state.
    private readonly MappingGuard _mappings = new(exits);
    private readonly TakenFiles _takenFiles = new(mountpoint);
    private readonly HeldCallWork _work = new();
    private SafeFd? _root;
    private DeviceInode? _mountDevice;

    /// <summary>What became of a call: answered, continued, held (retry it
    /// later: the boot is frozen), or gone (its caller died; nothing to answer).</summary>
    public enum Fate
    {
        Answered,
        Held,
        Gone,
    }

    /// <summary>One pass of a request inside the gate: not a LUO file, held
    /// (frozen), a tail to scan first, or the dispatcher's outcome.</summary>
    private readonly record struct Step(bool Luo, bool Frozen, (ulong Start, ulong Length)? Tail, IoctlOutcome? Outcome);

    public Fate Handle(TrapOwner owner, SeccompNotification call)
    {
        SeccompListener listener = owner.Listener;
        if (call.ThreadId <= 0 || call.Architecture != SeccompNotification.ArchitectureX8664)
            return Continue(listener, call);
        if (!Serves(owner, call.ThreadId))
        {
            if (!owner.RefusalLogged)
                _log.Warning("Trapped calls of pid {Pid} are not served: it does not run as uid {Uid}, the user who handed over the listener (pid {Owner}); the kernel runs them (a LUO fd request then fails with EOPNOTSUPP). Run that program under its own `liveupdatefs run` (logged once per listener)",
                    call.ThreadId, owner.Uid, owner.Pid);
            owner.RefusalLogged = true;
            return Continue(listener, call);
        }
        using var process = new CallerProcess(call.ThreadId, _mappings, _takenFiles);
        return call.Syscall == SeccompNotification.SyscallIoctl ? Ioctl(listener, call, process) : SizeChange(listener, call, process);
    }

    /// <summary>Root (or the daemon's user) may hand over a listener for any
    /// tree; anyone else only for processes running as themselves.</summary>
    internal static bool Serves(TrapOwner owner, int threadId)
    {
        if (owner.Uid == 0 || owner.Uid == CurrentUser.EffectiveUid)
            return true;
        string? status = ProcFs.ReadText($"/proc/{threadId}/status");
        string[]? uids = status is null ? null : ProcFs.FieldOf(status, "Uid:")?.Split('\t', StringSplitOptions.RemoveEmptyEntries);
        return uids is { Length: >= 2 } && uids[0] == owner.Uid.ToString() && uids[1] == owner.Uid.ToString();
    }

    private Fate Ioctl(SeccompListener listener, SeccompNotification call, CallerProcess process)
    {
        // /proc/TID/fdinfo answers without asking any file system: an O_PATH
        // fd (the kernel's fget() refuses it: EBADF) or an inode number no
        // device or session node has (a socket, a pipe, almost any file) is
        // continued at once. Only then is the file looked at, through its
        // link, untaken (statx, cached attributes): only a file of this
        // mount is ever taken (and closed again in place, FOPEN_NOFLUSH).
        if (!MayBeLuoFile(call.ThreadId, call.Fd)
            || DeviceInode.OfCallerFd(call.ThreadId, call.Fd) is not { } seen || !IsOwnMount(seen))
            return Continue(listener, call);
        Errno taken = process.TakeDescriptor(call.Fd, out SafeFd? file);
        if (!listener.IsValid(call.Id))
        {
            if (file is not null)
                _takenFiles.Close(file, shmem: false);
            return Fate.Gone;
        }
        if (taken.IsError)
            return Continue(listener, call); // the kernel's own EBADF
        DeviceInode? identity = DeviceInode.Of(file!);
        int flags = FileOps.StatusFlags(file!);
        _takenFiles.Close(file!, shmem: false); // of this mount (unless swapped meanwhile): closed in place, no request
        // An O_PATH fd never went through OPEN (no permission check, no
        // single-open rule): the kernel's fget() refuses it, EBADF.
        if (identity is not { } node || !IsOwnMount(node) || flags < 0 || (flags & FileOps.OPath) != 0)
            return Continue(listener, call);
        uint request = call.IoctlRequest;
        if (request is SeccompFilter.Fionread or SeccompFilter.Fioqsize)
            return VfsIoctl(listener, call, node.Inode);
        using (LogContext.Push(new RequestProperties(call.ThreadId, LuoRequest.NameOf(request))))
            return FdRequest(listener, call, process, node.Inode, flags & FileOps.AccessModeMask);
    }

    private bool IsOwnMount(DeviceInode file) => MountDevice is { } mount && file.SameFileSystem(mount);

    private static bool MayBeLuoFile(int threadId, int fd) =>
        FdInfo.Of(threadId, fd) is { IsPathOnly: false, Inode: var inode } && (inode is null or LuoNodes.Device or >= LuoNodes.SessionBase);

    /// <summary>The kernel's LUO files are no regular files: FIONREAD reaches
    /// LUO's ioctl (EINVAL: nr outside 0-1, docs/behaviour.md §2.1), FIOQSIZE is ENOTTY.</summary>
    private Fate VfsIoctl(SeccompListener listener, SeccompNotification call, ulong inode)
    {
        bool luo = Gate(() => fileSystem.TryLuoNode(inode, out _));
        if (!luo)
            return Continue(listener, call);
        listener.Answer(call.Id, call.IoctlRequest == SeccompFilter.Fionread ? Errno.EINVAL : Errno.ENOTTY);
        return Fate.Answered;
    }

    private Fate FdRequest(SeccompListener listener, SeccompNotification call, CallerProcess process, ulong inode, int accessMode)
    {
        uint request = call.IoctlRequest;
        ulong argument = call.Arg2;
        // The kernel reserves the fd number first (docs/behaviour.md §4.1 step 1): asked of /proc before the request runs.
        var reservation = new KnownFdReservation(FdSlots.Reserve(call.ThreadId));
        ICallerMemory memory = process;
        bool drained = false;
        while (true)
        {
            ICallerMemory decodeWith = memory;
            Step step = Gate(() =>
            {
                if (!fileSystem.TryLuoNode(inode, out Session? session))
                    return new Step(false, false, null, null);
                if (fileSystem.Frozen)
                    return new Step(true, true, null, null);
                // A long zero tail is scanned outside the gate first (TailScans' rule).
                if (decodeWith == process && fileSystem.DeclaredTail(session, request, argument, process) is { Length: > TailScans.InPlaceLimit } tail)
                    return new Step(true, false, tail, null);
                return new Step(true, false, null, fileSystem.DispatchTrapped(session, request, argument, new RequestContext(decodeWith, process, reservation)));
            });
            if (!step.Luo)
                return Continue(listener, call);
            if (step.Frozen)
                return Fate.Held;
            if (step.Tail is { } scan)
            {
                // Up to 4 GiB of the caller's memory: read off this thread
                // (every tree's calls wait on it); the call waits, held.
                int threadId = call.ThreadId;
                if (!_work.Slow(call.Id, "tail", () => TailScans.FirstNonZero(new CallerThread(threadId, _mappings), scan.Start, scan.Length), out (ulong StopAt, bool NonZero) verdict))
                    return Fate.Held;
                memory = new ScannedMemory(process, scan.Start, scan.Start + scan.Length, verdict.StopAt, verdict.NonZero);
                continue;
            }
            IoctlOutcome outcome = step.Outcome!;
            if (outcome.WorkFirst is { } work)
            {
                // A restore from the store, off this thread too; then the request runs again.
                if (_work.Restore(call.Id, work) == HeldCallWork.RestoreTurn.Held)
                    return Fate.Held;
                _log.Error("RETRIEVE_FD from pid {Pid} still asks for a restore after {Rounds} finished ones: answered EIO. This is a daemon bug: please report it with this log",
                    call.ThreadId, HeldCallWork.MaxRestoreRounds);
                return Answer(listener, call, Errno.EIO);
            }
            if (outcome.Result.IsError && !drained && request is LuoRequest.CreateSession or LuoRequest.RetrieveSession)
            {
                // A session fd the caller closed just before may still have its
                // release queued for the FUSE thread (FUSE answers them in order;
                // this call came another way): let the queue drain, then ask again.
                drained = true;
                DrainFuseQueue();
                continue;
            }
            if (outcome.Pending is not { } pending)
                return Answer(listener, call, outcome.Result);
            return Install(listener, call, process, memory, pending, accessMode);
        }
    }

    private volatile bool _shutOut;

    /// <summary>The state, inside the loop's gate; refused (ObjectDisposedException)
    /// once a stop that could not wait for this thread has shut it out.</summary>
    private T Gate<T>(Func<T> work) => loop.Exclusive(() =>
    {
        ObjectDisposedException.ThrowIf(_shutOut, this);
        return work();
    });

    /// <summary>From now on this thread no longer touches the state: taken
    /// inside the gate, so a step under way ends first (the stop's own thread
    /// owns the state afterwards).</summary>
    public void ShutOut() => loop.Exclusive(() => _shutOut = true);

    /// <summary>A call is answered, or its caller gone: its slow work's results go.</summary>
    public void Forget(ulong callId) => _work.Forget(callId);

    /// <summary>Puts the result's fd into the caller and completes the
    /// struct, as the kernel's steps "copy back, install" (docs/behaviour.md §4.1 steps 7-8).</summary>
    private Fate Install(SeccompListener listener, SeccompNotification call, CallerProcess process, ICallerMemory memory, PendingFd pending, int accessMode)
    {
        // Writes go to the caller's thread id: only while it still waits in
        // this call is that id still the caller's (not a reused pid).
        if (!listener.IsValid(call.Id))
        {
            Gate(() => { pending.Abort(); return 0; });
            return Fate.Gone;
        }
        // The write-back is tried first (writing the struct as it is): a
        // struct the caller cannot take back fails with EFAULT before an fd
        // exists in the caller, as in the kernel.
        if (!pending.Request.WriteBack(memory))
        {
            Gate(() => { pending.Abort(); return 0; });
            return Answer(listener, call, Errno.EFAULT);
        }
        SafeFd? file = pending.File is HeldFile held ? held.Fd : null;
        SafeFd? sessionFile = null;
        if (pending.Session is not null)
        {
            Errno opened = OpenSessionFile(pending, accessMode, out sessionFile);
            if (opened.IsError)
                return Answer(listener, call, opened);
            file = sessionFile;
        }
        if (pauseBeforeInstall > TimeSpan.Zero)
        {
            _log.Warning("Trap pause: {Ms} ms before the fd is installed in pid {Pid} (test-only LIVEUPDATEFS_TEST_TRAP_PAUSE_MS)",
                pauseBeforeInstall.TotalMilliseconds, call.ThreadId);
            Thread.Sleep(pauseBeforeInstall);
        }
        Errno installed = listener.Install(call.Id, file!, out int fd);
        // The caller holds its own copy now (or none): ours goes before the
        // answer. Of this mount (FOPEN_NOFLUSH), so the close sends nothing
        // unless it is the last, whose release the FUSE thread takes in turn.
        sessionFile?.Dispose();
        if (installed == Errno.ENOENT)
            return Gone(call, pending);
        if (installed.IsError)
        {
            // Only a race can get here (another thread of the caller took the last slot).
            _log.Warning("Installing the new fd in pid {Pid} failed with {Errno}; the request fails with it", call.ThreadId, installed.Name);
            if (sessionFile is null)
                Gate(() => { pending.Abort(); return 0; });
            return Answer(listener, call, installed);
        }
        if (!listener.IsValid(call.Id))
            return Fate.Gone; // killed after the install: its fds close with it
        Errno completed = Gate(() => pending.Complete(fd, memory));
        _log.Debug("Installed fd {Fd} in pid {Pid}", fd, call.ThreadId);
        return Answer(listener, call, completed);
    }

    /// <summary>The session's fd: the daemon opens the session node itself
    /// (its LOOKUP and OPEN are served by the FUSE thread meanwhile: no gate held).</summary>
    private Errno OpenSessionFile(PendingFd pending, int accessMode, out SafeFd? sessionFile)
    {
        (ulong ticket, string node) = Gate(() => fileSystem.Handover.KeepForDaemon(pending));
        sessionFile = null;
        Errno opened = Root is { } root ? FileOps.OpenAt(root, node, accessMode, out sessionFile) : Errno.ENOTCONN;
        bool taken = Gate(() => fileSystem.Handover.Settle(ticket));
        if (opened.IsError || !taken)
        {
            sessionFile?.Dispose();
            sessionFile = null;
            _log.Error("The daemon could not open its own session node for a trapped request ({Errno}); the request fails with it", opened.Name);
            return opened.IsError ? opened : Errno.EIO;
        }
        return Errno.None;
    }

    /// <summary>
    /// Returns once the FUSE thread has answered every request queued before
    /// now: a LOOKUP of a name no node has, which it answers in queue order
    /// after the releases the caller's close() queued (docs/fuse.md §6).
    /// Costs a round trip, so it is made only when a
    /// request failed in a way such a release could change (docs/seccomp.md §3.1).
    /// </summary>
    private void DrainFuseQueue()
    {
        if (Root is { } root)
            FileOps.Exists(root, LuoNodes.BarrierName);
    }

    /// <summary>The caller died inside the call: nothing of it stays (a
    /// session file of ours closes, and its release ends the session).</summary>
    private Fate Gone(SeccompNotification call, PendingFd pending)
    {
        _log.Information("Pid {Pid} ended inside its request; its result is dropped", call.ThreadId);
        if (pending.Session is null)
            Gate(() => { pending.Abort(); return 0; });
        return Fate.Gone;
    }

    /// <summary>docs/behaviour.md §8.2: ftruncate/fallocate of a frozen memfd is EPERM;
    /// any other call (or file) the kernel runs. Argument errors the kernel
    /// finds first are left to it (the preload library's rules).</summary>
    private Fate SizeChange(SeccompListener listener, SeccompNotification call, CallerProcess process)
    {
        if (!SizeRule.MayChange(call))
            return Continue(listener, call);
        Errno taken = process.Take(call.Fd, out IHeldFile? file);
        using (file)
        {
            if (!listener.IsValid(call.Id))
                return Fate.Gone;
            if (taken.IsError || !SizeRule.Applies(call, file!.Facts) || file is not HeldFile held || FileOps.AccessMode(held.Fd) == 0)
                return Continue(listener, call);
            bool frozen = Gate(() => fileSystem.IsFrozen(file.Facts));
            if (frozen)
            {
                // The release of a session fd the caller closed just before
                // (which unfreezes its files) may still wait in the FUSE
                // queue: let it drain before refusing (docs/seccomp.md §3.1).
                DrainFuseQueue();
                frozen = Gate(() => fileSystem.IsFrozen(file.Facts));
            }
            return frozen ? Answer(listener, call, Errno.EPERM) : Continue(listener, call);
        }
    }

    private static Fate Continue(SeccompListener listener, SeccompNotification call)
    {
        listener.Continue(call.Id);
        return Fate.Answered;
    }

    private static Fate Answer(SeccompListener listener, SeccompNotification call, Errno result)
    {
        listener.Answer(call.Id, result);
        return Fate.Answered;
    }

    /// <summary>The mount's root, opened O_PATH once (no request): session
    /// nodes are opened beside it even when the mountpoint's path is shadowed.</summary>
    private SafeFd? Root
    {
        get
        {
            if (_root is null && FileOps.OpenPath(mountpoint) is { } root)
                _root = root;
            return _root;
        }
    }

    private DeviceInode? MountDevice => _mountDevice ??= Root is { } root ? DeviceInode.Of(root) : null;
}
