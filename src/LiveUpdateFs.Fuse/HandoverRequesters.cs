using LiveUpdateFs.Interop;

namespace LiveUpdateFs.Fuse;

/// <summary>
/// The threads that sent PREPARE, by thread id (<see cref="FdHandover"/>):
/// each pinned by a pidfd of its thread and watched in
/// <see cref="ExitWatcher"/>, so that its tickets are undone as soon as it
/// exits and a newcomer with its id is never taken for it. The entry of a
/// thread whose tickets are all taken stays, up to <see cref="MaxIdle"/> of
/// them (the most recent), so a thread that creates session after session
/// pins and watches itself once. FUSE thread only.
/// </summary>
/// <param name="ended">Undoes the tickets of an entry whose thread has exited, then forgets it.</param>
internal sealed class HandoverRequesters(ExitWatcher exits, Action<HandoverRequester> ended) : IDisposable
{
    /// <summary>Each idle entry costs a pidfd and a watch; making entries anew
    /// costs every request a pidfd_open and a wake-up of the watcher thread.</summary>
    private const int MaxIdle = 64;

    private readonly Dictionary<int, HandoverRequester> _byThread = [];

    /// <summary>The entries with no tickets, least recently used first.</summary>
    private readonly LinkedList<HandoverRequester> _idle = [];
    private IFuseLoop? _loop;

    public void Attach(IFuseLoop loop) => _loop = loop;

    /// <summary>The live entry of <paramref name="threadId"/>; an entry whose
    /// thread has exited (its id may be reused now) is ended first.</summary>
    public HandoverRequester? Of(int threadId)
    {
        if (!_byThread.TryGetValue(threadId, out HandoverRequester? requester))
            return null;
        if (requester.Pin.Is(threadId))
            return requester;
        ended(requester);
        return null;
    }

    /// <summary>An entry of <paramref name="threadId"/> exists (its thread may have ended since).</summary>
    public bool Has(int threadId) => _byThread.ContainsKey(threadId);

    /// <summary>The entry of the thread whose request is being handled, which
    /// <see cref="Of"/> checked earlier in the same request; a new one if it
    /// has none (null: the thread is gone).</summary>
    public HandoverRequester? OfCaller(int threadId, uint uid) =>
        _byThread.GetValueOrDefault(threadId) ?? New(threadId, uid);

    /// <summary>The entry got a ticket: it is not idle any more.</summary>
    public void Busy(HandoverRequester requester)
    {
        if (requester.Idle is { } idle)
            _idle.Remove(idle);
        requester.Idle = null;
    }

    /// <summary>The entry has no tickets left: kept for its thread's next
    /// request, and the least recently used idle entry beyond the cap is forgotten.</summary>
    public void MakeIdle(HandoverRequester requester)
    {
        requester.Idle = _idle.AddLast(requester);
        if (_idle.Count > MaxIdle)
            Forget(_idle.First!.Value);
    }

    public void Forget(HandoverRequester requester)
    {
        Busy(requester);
        if (_byThread.TryGetValue(requester.Pin.Pid, out HandoverRequester? current) && current == requester)
            _byThread.Remove(requester.Pin.Pid);
        exits.Cancel(requester.ExitWatch);
        requester.Pin.Dispose();
    }

    public void Dispose()
    {
        foreach (HandoverRequester requester in _byThread.Values)
        {
            exits.Cancel(requester.ExitWatch);
            requester.Pin.Dispose();
        }
        _byThread.Clear();
        _idle.Clear();
    }

    private HandoverRequester? New(int threadId, uint uid)
    {
        if (ProcessPin.OfThread(threadId) is not { } pin)
            return null;
        var requester = new HandoverRequester(pin, uid);
        _byThread.Add(threadId, requester);
        // Ended as soon as the thread exits without taking its results
        // (README "What a reboot hands over"): its session is never handed over.
        requester.ExitWatch = exits.Add(pin, () => _loop?.Post(() => EndIfExited(requester)));
        return requester;
    }

    /// <summary>Runs on the FUSE thread when the requester's pidfd turns readable.</summary>
    private void EndIfExited(HandoverRequester requester)
    {
        if (_byThread.TryGetValue(requester.Pin.Pid, out HandoverRequester? current) && current == requester && requester.Pin.HasExited)
            ended(requester);
    }
}
