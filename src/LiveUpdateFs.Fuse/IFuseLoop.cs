namespace LiveUpdateFs.Fuse;

/// <summary>What a file system may ask of the loop that serves it, from its
/// own handlers or from other threads.</summary>
public interface IFuseLoop
{
    /// <summary>The requests answered so far (status.json "fuseRequests"); serving thread only.</summary>
    FuseRequestCounts Requests { get; }

    /// <summary>Runs <paramref name="work"/> on the serving thread; safe from any thread.</summary>
    void Post(Action work);

    /// <summary>Handles the held requests again (serving thread only).</summary>
    void ReplayHeld();

    /// <summary>Ends serving after the current request; safe from any thread.</summary>
    void Stop();

    /// <summary>Runs <paramref name="work"/> on the calling thread while the
    /// serving thread handles no request: for another thread that must act
    /// on the file system's state (the seccomp listener's,
    /// docs/blocking.md). <paramref name="work"/> must not wait for the
    /// serving thread (no request to the mount).</summary>
    T Exclusive<T>(Func<T> work);
}
