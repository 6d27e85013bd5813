using LiveUpdateFs.Core.Files;

namespace LiveUpdateFs.Core.Sessions;

/// <summary>
/// A file handed over by the previous boot (docs/behaviour.md §4.4): not retrieved yet,
/// retrieved (LUO keeps a reference; later retrieves share it), or failed
/// (the errno is returned again, forever).
/// </summary>
public sealed class IncomingFile(ulong token, string compatible, IRestorableFile source)
{
    public ulong Token { get; } = token;
    public string Compatible { get; } = compatible;
    public IRestorableFile Source { get; } = source;
    public IHeldFile? Retrieved { get; set; }
    public Uapi.Errno FailedWith { get; set; } = Uapi.Errno.None;
}
