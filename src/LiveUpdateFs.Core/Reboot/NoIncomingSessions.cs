using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Core.Reboot;

/// <summary>A cold boot: nothing was handed over.</summary>
public sealed class NoIncomingSessions : IIncomingSource
{
    public static readonly NoIncomingSessions Instance = new();

    public Errno Load(out IReadOnlyList<IncomingSessionImage> sessions)
    {
        sessions = [];
        return Errno.None;
    }

    public Errno MarkConsumed() => Errno.None;
}
