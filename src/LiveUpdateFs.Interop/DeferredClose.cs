using System.Collections.Concurrent;

namespace LiveUpdateFs.Interop;

/// <summary>
/// Closes descriptors the daemon took from callers on a thread of its own.
/// close() of a file on another FUSE mount sends FLUSH to that mount's server
/// and waits for it; a server that never answers (stopped, hostile, or this
/// very daemon) would hang the FUSE thread (docs/blocking.md). Only files
/// whose close cannot wait on anyone (shmem files, unix sockets) are closed
/// in place.
/// </summary>
public static class DeferredClose
{
    private static readonly BlockingCollection<SafeFd> Queue = new();
    private static readonly Lazy<Thread> Closer = new(StartCloser, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Queues <paramref name="fd"/> for closing; returns at once.</summary>
    public static void Close(SafeFd fd)
    {
        if (fd.IsInvalid || fd.IsClosed)
        {
            fd.Dispose();
            return;
        }
        _ = Closer.Value;
        Queue.Add(fd);
    }

    private static Thread StartCloser()
    {
        var thread = new Thread(() =>
        {
            foreach (SafeFd fd in Queue.GetConsumingEnumerable())
                fd.Dispose();
        }) { IsBackground = true, Name = "deferred-close" };
        thread.Start();
        return thread;
    }
}
