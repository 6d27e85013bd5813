using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Core.Dispatch;

/// <summary>CREATE/RETRIEVE_SESSION: the session's fd is the per-session node.
/// When that fd is dropped again, its release does the kernel's cleanup
/// (discard, or implicit finish), exactly as a dropped file does in docs/behaviour.md §4.1
/// step 7 and docs/behaviour.md §4.2 step 6.</summary>
public sealed class PendingSessionFd(DecodedRequest request, Session session, Orchestrator orchestrator) : PendingFd(request)
{
    public override Session Session { get; } = session;

    public override void Abort() => orchestrator.ReleaseSession(Session);

    // The library closes the fd it opened; the node's release runs ReleaseSession.
    protected override void OnWriteBackFailed()
    {
    }
}
