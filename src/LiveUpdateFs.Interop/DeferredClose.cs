using System.Collections.Concurrent;

namespace LiveUpdateFs.Interop;

/// <summary>
/// Closes descriptors the daemon took from callers on threads of their own.
/// close() of a file on another FUSE mount sends FLUSH to that mount's server
/// and waits for it; a server that never answers would hang the FUSE thread
/// (docs/blocking.md). Such files are rarely taken at all (/proc is asked
/// first, <see cref="ShmemCandidate"/>); one that is (a caller swapped the fd
/// between that look and the take) may keep a closer waiting for good, so
/// another closer starts whenever every closer is busy, up to
/// <see cref="MaxClosers"/>; beyond that, closes wait in the queue.
/// </summary>
public static class DeferredClose
{
    private const int MaxClosers = 4;

    private static readonly BlockingCollection<SafeFd> Queue = new();
    private static int _closers;
    private static int _idle;

    /// <summary>Queues <paramref name="fd"/> for closing; returns at once.</summary>
    public static void Close(SafeFd fd)
    {
        if (fd.IsInvalid || fd.IsClosed)
        {
            fd.Dispose();
            return;
        }
        Queue.Add(fd);
        if (Volatile.Read(ref _idle) == 0 && Interlocked.Increment(ref _closers) <= MaxClosers)
            StartCloser();
        else if (Volatile.Read(ref _closers) > MaxClosers)
            Interlocked.Decrement(ref _closers);
    }

    private static void StartCloser()
    {
        var thread = new Thread(() =>
        {
            while (true)
            {
                Interlocked.Increment(ref _idle);
                SafeFd fd = Queue.Take();
                Interlocked.Decrement(ref _idle);
                fd.Dispose();
            }
        }) { IsBackground = true, Name = "deferred-close" };
        thread.Start();
    }
}
