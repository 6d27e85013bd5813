using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Interop;

/// <summary>
/// Processes held still with SIGSTOP for a while (the daemon's durable
/// snapshot), each through a pidfd, so that a pid that is reused in between is
/// never signalled. A process found stopped already (someone's SIGSTOP, a
/// debugger) is waited for like the others but never continued: its stop is
/// not ours to end. Disposing continues every process stopped here.
/// </summary>
public sealed class StoppedProcesses : IDisposable
{
    private readonly Dictionary<int, (ProcessPin Pin, bool StoppedHere)> _processes = [];

    /// <summary>What <see cref="Stop"/> did.</summary>
    public enum Outcome
    {
        /// <summary>SIGSTOP sent; <see cref="Resume"/> sends the SIGCONT.</summary>
        Stopped,

        /// <summary>It was stopped already; waited for, never continued.</summary>
        AlreadyStopped,

        /// <summary>It exited, or its pid no longer names a process that qualifies.</summary>
        Gone,
    }

    /// <summary>Every process in the set, whoever stopped it.</summary>
    public IEnumerable<int> Pids => _processes.Keys;

    /// <summary>The processes this set stopped (and will continue).</summary>
    public IEnumerable<int> StoppedHere => _processes.Where(p => p.Value.StoppedHere).Select(p => p.Key);

    public bool Contains(int pid) => _processes.ContainsKey(pid);

    /// <summary>
    /// Stops <paramref name="pid"/> if it still qualifies. It is pinned first,
    /// then <paramref name="qualifies"/> is asked again: if the pinned process
    /// is still alive after that, the pid named it throughout, so the answer
    /// (and the signal) is about the process that was found, not a newcomer.
    /// </summary>
    public (Outcome Outcome, Errno Error) Stop(int pid, Func<int, bool> qualifies)
    {
        if (_processes.ContainsKey(pid))
            return (Outcome.AlreadyStopped, Errno.None);
        if (ProcessPin.Of(pid) is not { } pin)
            return (Outcome.Gone, Errno.None);
        if (!qualifies(pid) || pin.HasExited)
        {
            pin.Dispose();
            return (Outcome.Gone, Errno.None);
        }
        if (ProcFs.StateOf($"/proc/{pid}/stat") is 'T' or 't')
        {
            _processes.Add(pid, (pin, StoppedHere: false));
            return (Outcome.AlreadyStopped, Errno.None);
        }
        Errno error = pin.Stop();
        if (error.IsError)
        {
            pin.Dispose();
            return error == Errno.ESRCH ? (Outcome.Gone, Errno.None) : (Outcome.Gone, error);
        }
        _processes.Add(pid, (pin, StoppedHere: true));
        return (Outcome.Stopped, Errno.None);
    }

    /// <summary>
    /// Waits until no thread of the set can run user code any more, or the
    /// <paramref name="bound"/> passes. Returns the threads still running then
    /// ("pid/tid state wchan"), empty on success. SIGSTOP takes a thread only
    /// on its way back to user space, so one inside a long system call runs
    /// on (and may still write a memfd from the kernel) until it returns: it
    /// must be waited for.
    /// </summary>
    public List<string> WaitUntilStopped(TimeSpan bound)
    {
        long deadline = Environment.TickCount64 + (long)bound.TotalMilliseconds;
        while (true)
        {
            List<string> running = RunningThreads();
            if (running.Count == 0 || Environment.TickCount64 >= deadline)
                return running;
            Thread.Sleep(1);
        }
    }

    private List<string> RunningThreads()
    {
        var running = new List<string>();
        foreach (int pid in _processes.Keys)
        {
            foreach (string tid in ProcFs.Names($"/proc/{pid}/task"))
            {
                string task = $"/proc/{pid}/task/{tid}";
                char? state = ProcFs.StateOf($"{task}/stat");
                if (state is null or 'T' or 't' or 'Z' or 'X')
                    continue; // stopped, traced, or gone
                string wchan = ProcFs.ReadText($"{task}/wchan") ?? "";
                if (state == 'D' && IsWaitThatStopsOnReturn(wchan))
                    continue;
                running.Add($"{pid}/{tid} {state} {(wchan is "" or "0" ? "-" : wchan)}");
            }
        }
        return running;
    }

    /// <summary>
    /// A thread in uninterruptible sleep never reaches its stop while it waits,
    /// but some waits do nothing but wait, and it stops as soon as the wait
    /// ends, before any user code:
    /// <list type="bullet">
    /// <item>a FUSE request (request_wait_answer; SIGSTOP turns its interruptible
    /// wait into a killable one, state D). When the daemon itself stops the
    /// processes, its single FUSE thread is busy doing so, so a LUO request
    /// waits until the snapshot is done; waiting for it would only time out.</item>
    /// <item>a vfork parent waiting for its child (kernel_clone): the child
    /// shares its memory, so it is a user of the same memfds and stopped too.</item>
    /// <item>a call trapped by `liveupdatefs run`'s filter
    /// (seccomp_do_user_notification; killable only, once the daemon took it):
    /// its answer waits for the daemon, busy with this very freeze; the call
    /// it may then run (a CONTINUE) changes no preserved memfd (their size
    /// changes are answered EPERM), and it stops on its way back.</item>
    /// </list>
    /// Any other D state (disk I/O, page faults, a write into a memfd in
    /// progress) ends by itself and is waited for. When wchan cannot be read
    /// (another user's process without ptrace access reads "0") the thread is
    /// waited for, to be safe.
    /// </summary>
    private static bool IsWaitThatStopsOnReturn(string wchan) =>
        wchan is "request_wait_answer" or "kernel_clone" or "wait_for_vfork_done" or "seccomp_do_user_notification"
        || wchan.StartsWith("fuse_", StringComparison.Ordinal) || wchan.StartsWith("__fuse_", StringComparison.Ordinal);

    /// <summary>SIGCONT to the processes stopped here that <paramref name="which"/>
    /// selects; they leave the set (as do the already stopped ones it selects).
    /// Returns the pids continued. A process that exited meanwhile is just dropped.</summary>
    public List<int> Resume(Func<int, bool> which)
    {
        var resumed = new List<int>();
        foreach ((int pid, (ProcessPin pin, bool stoppedHere)) in _processes.Where(p => which(p.Key)).ToList())
        {
            // An ended process (one the reboot killed) needs nothing; a zombie would still take the signal.
            if (stoppedHere && !pin.HasExited && !pin.Continue().IsError)
                resumed.Add(pid);
            pin.Dispose();
            _processes.Remove(pid);
        }
        return resumed;
    }

    /// <summary>Continues every process stopped here.</summary>
    public void Dispose() => Resume(_ => true);
}
