using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Core.Dispatch;

/// <summary>RETRIEVE_FD: the restored file goes over the library's socket. A
/// failed write-back leaves it retrieved (docs/behaviour.md §4.4 step 5).</summary>
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
