using System.Diagnostics;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Store.Handover;
using LiveUpdateFs.Uapi;
using Serilog;

namespace LiveUpdateFs.Host.Daemon;

/// <summary>
/// Makes a durable copy one instant, as the kernel's handover is (it keeps the
/// pages themselves): every process that could write a preserved memfd is
/// stopped (SIGSTOP through a pidfd) before the copy. Those are the holders of
/// emulator fds (device or session; a reboot ends them anyway) and every
/// process with a preserved memfd open or mapped. Once the copy is complete
/// the others run on; the holders stay stopped until the reboot command ends them, or
/// until this daemon ends (<see cref="Dispose"/>: a SIGTERM stop,
/// `reboot --keep-processes`). A failed freeze resumes everyone.
/// Never stopped: the daemon itself and the process that asked for the freeze.
/// If the daemon is killed (SIGKILL, OOM) while it holds processes stopped,
/// nobody continues them: its log line lists their pids for a `kill -CONT`.
/// </summary>
public sealed class SnapshotWriters(string mountpoint, ILogger log) : ISnapshotWriters, IDisposable
{
    /// <summary>For the scan and the wait together. Stopping takes a few
    /// milliseconds; a thread that has not stopped by then sits in a long
    /// system call, and the reboot had better fail than wait on it.</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(2);

    private readonly ILogger _log = log.ForContext<SnapshotWriters>();
    private StoppedProcesses? _stopped;
    private HashSet<int> _holders = [];
    private Stopwatch? _stoppedFor;

    /// <summary>
    /// Stops every process that can write <paramref name="memfds"/> (the
    /// daemon's fds of the outgoing preserved files), but this daemon and
    /// <paramref name="requester"/>. Scans again until a scan finds no new
    /// process (a fork between scan and stop inherits the fds), then waits
    /// until all their threads are stopped. EBUSY when that takes longer than
    /// the bound (or a process cannot be stopped): everyone is resumed and
    /// nothing else has changed. EBUSY rather than EAGAIN: it is what the
    /// kernel's own task freezer answers when tasks refuse to freeze, and
    /// [v7.1+] LUO has no EAGAIN case (docs/behaviour.md §7).
    /// </summary>
    public Errno Stop(IReadOnlyList<SafeFd> memfds, int? requester)
    {
        ResumeAll("a new snapshot begins");
        if (memfds.Count == 0)
            return Errno.None; // nothing is copied, nothing can tear
        var clock = Stopwatch.StartNew();
        var (error, users) = MemfdUsers.Of(memfds);
        if (error.IsError)
        {
            _log.Error("Cannot tell which processes use the preserved memfds ({Errno} from statx of the daemon's own fds of them): the durable snapshot is refused", error.Name);
            return error;
        }
        var stopped = new StoppedProcesses();
        var holders = new HashSet<int>();
        var never = new HashSet<int> { Environment.ProcessId };
        if (requester is { } asked)
            never.Add(asked);
        string? problem = StopAll(stopped, holders, never, users!, clock);
        List<string> running = problem is null ? stopped.WaitUntilStopped(Bound - clock.Elapsed) : [];
        if (problem is null && running.Count > 0)
            problem = $"{running.Count} threads still ran after {Bound.TotalSeconds:0} s (pid/tid state wchan: {string.Join(", ", running.Take(8))})";
        if (problem is not null)
        {
            List<int> resumed = stopped.Resume(_ => true);
            _log.Error("The durable snapshot needs every process that can write a preserved memfd stopped, but {Problem}; the {Count} stopped processes were resumed ({Pids}). A reboot fails with EBUSY (nothing changed): retry, or end that process",
                problem, resumed.Count, resumed.Count > 0 ? string.Join(' ', resumed) : "none");
            return Errno.EBUSY;
        }
        _stopped = stopped;
        _holders = holders;
        _stoppedFor = clock;
        List<int> pids = stopped.Pids.Order().ToList();
        if (pids.Count > 0)
            _log.Information("Stopped {Count} processes for the durable snapshot in {Milliseconds} ms: pids {Pids} ({Holders} of them hold emulator fds, {Foreign} were stopped already and stay so)",
                pids.Count, clock.ElapsedMilliseconds, string.Join(' ', pids), holders.Count, pids.Count - stopped.StoppedHere.Count());
        return Errno.None;
    }

    /// <summary>Scans and stops until a scan finds nobody new; the problem, or null.</summary>
    private string? StopAll(StoppedProcesses stopped, HashSet<int> holders, HashSet<int> never, MemfdUsers users, Stopwatch clock)
    {
        var fdHolders = new EmulatorFdHolders(mountpoint);
        for (bool found = true; found;)
        {
            if (clock.Elapsed > Bound)
                return $"new processes kept appearing for {Bound.TotalSeconds:0} s (forks?)";
            found = false;
            foreach (string entry in ProcFs.Names("/proc"))
            {
                if (!int.TryParse(entry, out int pid) || never.Contains(pid) || stopped.Contains(pid))
                    continue;
                bool holder = fdHolders.Holds(pid);
                if (!holder && !users.AreUsedBy(pid))
                    continue;
                var (outcome, error) = stopped.Stop(pid, p => holder ? fdHolders.Holds(p) : users.AreUsedBy(p));
                if (error.IsError)
                    return $"process {pid} cannot be stopped ({error.Name})";
                if (outcome == StoppedProcesses.Outcome.Gone)
                    continue;
                found = true;
                if (holder)
                    holders.Add(pid);
            }
        }
        return null;
    }

    /// <summary>Once the copy is complete: the processes that hold no emulator fd run
    /// on; the holders wait for the reboot command's SIGKILL (a kexec ends
    /// every process) or this daemon's end.</summary>
    public void ResumeAllButHolders()
    {
        if (_stopped is null)
            return;
        List<int> resumed = _stopped.Resume(pid => !_holders.Contains(pid));
        List<int> held = _stopped.Pids.Order().ToList();
        if (resumed.Count > 0 || held.Count > 0)
            _log.Information("Resumed {Count} processes after the durable snapshot, stopped for {Milliseconds} ms: pids {Pids}; {Held} emulator fd holders stay stopped until the reboot ends them (or this daemon ends): {HeldPids}",
                resumed.Count, _stoppedFor!.ElapsedMilliseconds, resumed.Count > 0 ? string.Join(' ', resumed) : "none", held.Count,
                held.Count > 0 ? string.Join(' ', held) : "none");
        if (held.Count == 0)
            Forget();
    }

    /// <summary>Continues every process still stopped here (a failed freeze,
    /// the end of a SIGTERM stop, the end of this daemon).</summary>
    public void ResumeAll(string why)
    {
        if (_stopped is null)
            return;
        List<int> resumed = _stopped.Resume(_ => true);
        if (resumed.Count > 0)
            _log.Information("Resumed {Count} processes stopped for the durable snapshot ({Why}), after {Milliseconds} ms: pids {Pids}",
                resumed.Count, why, _stoppedFor!.ElapsedMilliseconds, string.Join(' ', resumed));
        Forget();
    }

    private void Forget()
    {
        _stopped?.Dispose();
        _stopped = null;
        _holders = [];
    }

    public void Dispose() => ResumeAll("the daemon ends");
}
