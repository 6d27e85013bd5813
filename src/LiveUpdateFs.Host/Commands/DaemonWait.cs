using System.Diagnostics;

namespace LiveUpdateFs.Host.Commands;

/// <summary>
/// The one wait for a daemon, used by every command that waits for one to
/// start, restart or come back: looks at what serves the mountpoint
/// (<see cref="DaemonMount.At"/>, each look itself bounded) until a condition
/// holds, a bound passes, or the caller gives up (its daemon ended).
/// </summary>
public static class DaemonWait
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(2); // a reboot's blackout is measured to the look that sees the next boot

    /// <summary>True once <paramref name="done"/> holds for a look; false when
    /// <paramref name="bound"/> passed or <paramref name="giveUp"/> held first.
    /// <paramref name="last"/> is the last look either way.</summary>
    public static bool Until(string mountpoint, TimeSpan bound, Func<DaemonMount, bool> done, out DaemonMount last, Func<bool>? giveUp = null)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            last = DaemonMount.At(mountpoint);
            if (done(last))
                return true;
            if (clock.Elapsed >= bound || giveUp?.Invoke() == true)
                return false;
            Thread.Sleep(Interval);
        }
    }
}
