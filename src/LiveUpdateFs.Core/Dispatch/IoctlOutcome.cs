using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Core.Dispatch;

/// <summary>
/// The result of a request: finished with an errno, or waiting for the
/// preload library to install a new fd (<see cref="Pending"/>), after which
/// <see cref="PendingFd.Complete"/> writes the struct back as the kernel does;
/// or not run yet: <see cref="WorkFirst"/> must run away from the request
/// thread, then the request is dispatched again (nothing changed meanwhile).
/// </summary>
public sealed record IoctlOutcome(Errno Result, PendingFd? Pending = null, DecodedRequest? Request = null, Action? WorkFirst = null)
{
    public static IoctlOutcome Done(Errno result, DecodedRequest? request = null) => new(result, null, request);

    /// <summary>Slow work the request needs (a restore from the store) before it can run.</summary>
    public static IoctlOutcome After(Action work, DecodedRequest request) => new(Errno.None, null, request, work);
}

/// <summary>A successful fd-returning command whose fd is not installed yet.</summary>
public abstract class PendingFd(DecodedRequest request)
{
    public DecodedRequest Request { get; } = request;

    /// <summary>The session whose fd is to be installed, if any.</summary>
    public virtual Session? Session => null;

    /// <summary>The file to hand over, if any (RETRIEVE_FD).</summary>
    public virtual IHeldFile? File => null;

    /// <summary>The library installed <paramref name="fd"/>: write the struct back.
    /// On EFAULT the caller closes <paramref name="fd"/> again.</summary>
    public Errno Complete(int fd, ICallerMemory memory)
    {
        LuoStructs.WriteFd(Request.Struct, fd);
        if (Request.WriteBack(memory))
            return Errno.None;
        OnWriteBackFailed();
        return Errno.EFAULT;
    }

    /// <summary>The fd could not be installed at all.</summary>
    public abstract void Abort();

    protected abstract void OnWriteBackFailed();
}

/// <summary>CREATE/RETRIEVE_SESSION: the session's fd is the per-session node.
/// When that fd is dropped again, its release does the kernel's cleanup
/// (discard, or implicit finish), exactly as a dropped file does in §4.1
/// step 7 and §4.2 step 6.</summary>
public sealed class PendingSessionFd(DecodedRequest request, Session session, Orchestrator orchestrator) : PendingFd(request)
{
    public override Session Session { get; } = session;

    public override void Abort() => orchestrator.ReleaseSession(Session);

    // The library closes the fd it opened; the node's release runs ReleaseSession.
    protected override void OnWriteBackFailed()
    {
    }
}

/// <summary>RETRIEVE_FD: the restored file goes over the library's socket. A
/// failed write-back leaves it retrieved (spec §4.4 step 5).</summary>
public sealed class PendingRetrievedFile(DecodedRequest request, IHeldFile file) : PendingFd(request)
{
    public override IHeldFile File { get; } = file;

    public override void Abort()
    {
    }

    protected override void OnWriteBackFailed()
    {
    }
}
