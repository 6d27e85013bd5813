using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Store;

/// <summary>Normal use: every checkpoint passes.</summary>
public sealed class NoCheckpoints : IStoreCheckpoints
{
    public static readonly NoCheckpoints Instance = new();

    public Errno Reach(string step) => Errno.None;
}
