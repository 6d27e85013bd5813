using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Host.Commands;

/// <summary>`unmount`: it talks to a running daemon through its
/// mount (<see cref="DaemonMount"/>), never through private state.</summary>
public static class UnmountCommand
{
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(15);

    public static int Run(string mountpoint)
    {
        DaemonMount daemon = DaemonMount.At(mountpoint);
        if (daemon.State == DaemonMountState.Dead)
            return RemoveDeadMount(mountpoint);
        if (daemon.State == DaemonMountState.NotMounted)
            return Fail("unmount", $"no daemon serves {mountpoint}: nothing is mounted there, nothing was stopped");
        if (!daemon.Serving)
            return Fail("unmount", daemon.Problem);
        using ProcessPin? pin = daemon.PinDaemon(out string problem);
        if (pin is null)
            return Fail("unmount", problem);
        Errno sent = pin.Terminate();
        if (sent.IsError)
            return Fail("unmount", $"could not signal daemon {pin.Pid} ({sent.Name}): only root or the daemon's user may stop it");
        if (!pin.WaitForExit(StopTimeout))
            return Fail("unmount", $"daemon {pin.Pid} did not stop within {StopTimeout.TotalSeconds} s; kill it with: kill -9 {pin.Pid}, then run unmount again");
        Console.WriteLine($"liveupdatefs: stopped daemon {pin.Pid} and unmounted {mountpoint}");
        return 0;
    }

    /// <summary>A trusted liveupdatefs mount whose daemon has ended: every
    /// access fails (ENOTCONN) until it is detached.</summary>
    private static int RemoveDeadMount(string mountpoint)
    {
        Errno detached = LazyUnmount.Detach(mountpoint);
        if (detached.IsError)
            return Fail("unmount", $"the daemon of the mount at {mountpoint} has ended, and removing the mount failed ({detached.Name}): run as root: umount -l {mountpoint}");
        Console.WriteLine($"liveupdatefs: removed a dead mount at {mountpoint}");
        return 0;
    }

    private static int Fail(string command, string message)
    {
        Console.Error.WriteLine($"liveupdatefs {command}: {message}");
        return 1;
    }
}
