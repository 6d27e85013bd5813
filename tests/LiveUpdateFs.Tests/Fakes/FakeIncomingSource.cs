using LiveUpdateFs.Core.Reboot;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Tests.Fakes;

/// <summary>The previous boot's sessions, or a failure to read them; counts
/// the loads and the consumed marks, and can fail the first marks.</summary>
public sealed class FakeIncomingSource(Errno failure = default, params IncomingSessionImage[] sessions) : IIncomingSource
{
    public int Loads { get; private set; }

    /// <summary>Successful <see cref="MarkConsumed"/> calls.</summary>
    public int Marks { get; private set; }

    /// <summary>How many <see cref="MarkConsumed"/> calls fail (EIO) before one succeeds.</summary>
    public int FailingMarks { get; set; }

    public Errno Load(out IReadOnlyList<IncomingSessionImage> loaded)
    {
        Loads++;
        loaded = failure.IsError ? [] : sessions;
        return failure;
    }

    public Errno MarkConsumed()
    {
        if (FailingMarks > 0)
        {
            FailingMarks--;
            return Errno.EIO;
        }
        Marks++;
        return Errno.None;
    }
}
