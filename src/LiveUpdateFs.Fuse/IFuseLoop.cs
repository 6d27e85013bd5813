namespace LiveUpdateFs.Fuse;

/// <summary>What a file system may ask of the loop that serves it, from its
/// own handlers or from other threads.</summary>
public interface IFuseLoop
{
    /// <summary>Runs <paramref name="work"/> on the serving thread; safe from any thread.</summary>
    void Post(Action work);

    /// <summary>Handles the held requests again (serving thread only).</summary>
    void ReplayHeld();

    /// <summary>Ends serving after the current request; safe from any thread.</summary>
    void Stop();
}
