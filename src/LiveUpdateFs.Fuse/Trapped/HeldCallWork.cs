using System.Runtime.ExceptionServices;

namespace LiveUpdateFs.Fuse.Trapped;

/// <summary>
/// Slow work a trapped call needs (a long tail scan, a restore out of the
/// store), run on the thread pool while the listener thread serves other
/// calls; the call is held meanwhile and handled again (TrapListeners
/// retries held calls), and each retry passes every earlier step again, so
/// a result stays until the call is answered (<see cref="Forget"/>).
/// Listener thread only.
/// </summary>
internal sealed class HeldCallWork
{
    /// <summary>Restores one call may ask for before it fails with EIO: a
    /// retry may find a restore finished just after its dispatch looked (one
    /// more round, cheap: the file is prepared already); more is a bug.</summary>
    public const int MaxRestoreRounds = 3;

    private readonly Dictionary<(ulong Call, string Kind), Task> _work = [];
    private readonly Dictionary<ulong, int> _restoreRounds = [];

    /// <summary>What to do with a call whose dispatch asked for a restore first.</summary>
    public enum RestoreTurn
    {
        /// <summary>A restore runs for it: hold the call.</summary>
        Held,
        /// <summary>It asked again after <see cref="MaxRestoreRounds"/> finished restores: answer EIO.</summary>
        Exhausted,
    }

    /// <summary>False while <paramref name="work"/> runs (started on the first
    /// ask); true once done, with its result. A failure is thrown to the caller.</summary>
    public bool Slow<T>(ulong callId, string kind, Func<T> work, out T result)
    {
        result = default!;
        if (!_work.TryGetValue((callId, kind), out Task? started))
        {
            _work[(callId, kind)] = Task.Run(work);
            return false;
        }
        if (!started.IsCompleted)
            return false;
        if (started is Task<T> { IsCompletedSuccessfully: true } done)
            result = done.Result;
        else
            throw started.Exception?.InnerException ?? new InvalidOperationException($"the {kind} work of a trapped call failed");
        return true;
    }

    /// <summary>
    /// The dispatch asked for <paramref name="restore"/> first. A restore that
    /// finished while the dispatch was looking (it saw the file unprepared)
    /// is not an error: another round starts, which finds the file prepared
    /// and returns at once, and the retry after it proceeds.
    /// A restore that failed throws its exception here.
    /// </summary>
    public RestoreTurn Restore(ulong callId, Action restore)
    {
        if (_work.TryGetValue((callId, "restore"), out Task? running) && !running.IsCompleted)
            return RestoreTurn.Held;
        // A failed restore is the call's answer (EIO, logged with its cause by TrapListeners), not a reason to copy again.
        if (running is { IsFaulted: true })
            ExceptionDispatchInfo.Throw(running.Exception!.InnerException!);
        int rounds = _restoreRounds.GetValueOrDefault(callId);
        if (rounds == MaxRestoreRounds)
            return RestoreTurn.Exhausted;
        _restoreRounds[callId] = rounds + 1;
        _work[(callId, "restore")] = Task.Run(restore);
        return RestoreTurn.Held;
    }

    /// <summary>A call is answered, or its caller gone: its work's results go.</summary>
    public void Forget(ulong callId)
    {
        foreach ((ulong Call, string Kind) key in _work.Keys.Where(k => k.Call == callId).ToList())
            _work.Remove(key);
        _restoreRounds.Remove(callId);
    }
}
