using LiveUpdateFs.Store;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Tests.Store;

/// <summary>The daemon's fault switch in small, for the store alone: the
/// <paramref name="occurrence"/>-th time <paramref name="step"/> is reached it
/// fails with EIO. Records every step reached, in order.</summary>
internal sealed class FailingCheckpoints(string step, int occurrence = 1) : IStoreCheckpoints
{
    private int _seen;

    public List<string> Reached { get; } = [];

    public Errno Reach(string reached)
    {
        Reached.Add(reached);
        return reached == step && ++_seen == occurrence ? Errno.EIO : Errno.None;
    }
}
