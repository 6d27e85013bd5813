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
