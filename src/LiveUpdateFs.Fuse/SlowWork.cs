using System.Collections.Concurrent;

namespace LiveUpdateFs.Fuse;

/// <summary>
/// Work a request needs that may take long (a long zero-tail scan, a restore
/// out of the store), run on one worker thread so that the FUSE thread goes
/// on serving everyone else (docs/blocking.md). The request that needs it is
/// held; after each piece of work the loop handles the held requests again,
/// and the request finds its work done. One caller thread has one request
/// in flight, so its own order is kept; requests of others may overtake it,
/// as they may overtake a slow request in the kernel.
/// </summary>
internal sealed class SlowWork(IFuseLoop loop)
{
    private readonly BlockingCollection<Action> _queue = new();
    private Thread? _worker;

    /// <summary>Queues <paramref name="work"/>; FUSE thread only.</summary>
    public void Run(Action work)
    {
        _worker ??= Start();
        _queue.Add(work);
    }

    private Thread Start()
    {
        var thread = new Thread(() =>
        {
            foreach (Action work in _queue.GetConsumingEnumerable())
            {
                try
                {
                    work();
                }
                finally
                {
                    // Also after a failure: the held request runs again and meets it itself.
                    loop.Post(loop.ReplayHeld);
                }
            }
        }) { IsBackground = true, Name = "slow-work" };
        thread.Start();
        return thread;
    }
}
