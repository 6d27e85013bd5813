using System.Diagnostics;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Host.Commands;

/// <summary>
/// Starts the keeper of a `run` tree's listener (src/native/liveupdatefs-keeper.c,
/// docs/seccomp.md §7): a process outside the tree
/// that holds a copy of the listener, so that the tree's trapped calls are
/// continued rather than failed with ENOSYS while no daemon serves it, and
/// hands it to the next daemon. Begun before the filter is installed (the
/// keeper must not be under it); <see cref="Hand"/> sends it the listener.
/// </summary>
public sealed class ListenerKeeperStart : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(5);

    private readonly Process _process;
    private readonly SafeFd _socket;

    private ListenerKeeperStart(Process process, SafeFd socket)
    {
        _process = process;
        _socket = socket;
    }

    /// <summary>The keeper, waiting for its listener; null (with a warning)
    /// when it cannot be started: the tree is then served while the daemon lives.</summary>
    public static ListenerKeeperStart? Begin(string mountpoint)
    {
        string keeper = Defaults.ListenerKeeper;
        if (!File.Exists(keeper))
            return Warn($"the listener keeper {keeper} is missing (build it with ./scripts/setup)");
        if (UnixRights.Pair(out SafeFd? ours, out SafeFd? theirs).IsError)
            return Warn("no socket pair for the listener keeper");
        using (theirs)
        {
            // The keeper's end is inherited across its exec; ours is not.
            ProcessImage.SetCloseOnExec(theirs!, close: false);
            try
            {
                var start = new ProcessStartInfo(keeper) { UseShellExecute = false };
                start.ArgumentList.Add(mountpoint);
                start.ArgumentList.Add(theirs!.Fd.ToString(System.Globalization.CultureInfo.InvariantCulture));
                return new ListenerKeeperStart(Process.Start(start)!, ours!);
            }
            catch (System.ComponentModel.Win32Exception ex)
            {
                ours!.Dispose();
                return Warn($"the listener keeper did not start ({ex.Message})");
            }
        }
    }

    /// <summary>Sends the keeper its copy of <paramref name="listener"/> and
    /// waits (bounded) for its first process, which leaves once it has it.</summary>
    public void Hand(SafeFd listener)
    {
        Errno sent = UnixRights.Send(_socket, listener);
        _socket.Dispose();
        if (!sent.IsError && _process.WaitForExit(StartTimeout) && _process.ExitCode == 0)
            return;
        if (!_process.HasExited)
            _process.Kill(); // never left behind as a child of the program
        Warn($"the listener keeper did not take the listener ({(sent.IsError ? sent.Name : "it did not answer")})");
    }

    /// <summary>Without <see cref="Hand"/> (run failed, or a nested run
    /// found its tree served) the keeper reads the socket's end and exits:
    /// it is waited for here, so that it is never left as a child of the
    /// program this process becomes.</summary>
    public void Dispose()
    {
        _socket.Dispose();
        _process.WaitForExit(StartTimeout);
        _process.Dispose();
    }

    private static ListenerKeeperStart? Warn(string problem)
    {
        Console.Error.WriteLine($"liveupdatefs run: warning: {problem}; the program is served while the daemon lives, and its trapped calls fail with ENOSYS once it has ended");
        return null;
    }
}
