using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Store;

/// <summary>
/// Named points between the store's durable steps. The daemon's fault switch
/// (tests only) uses them to fail a step or to die there; in normal use they
/// do nothing. A step that gets an error from here fails with it.
/// </summary>
public interface IStoreCheckpoints
{
    Errno Reach(string step);
}
