using System.Globalization;
using LiveUpdateFs.Interop;

namespace LiveUpdateFs.Host.Daemon;

/// <summary>
/// The seccomp listeners of `liveupdatefs run` trees across a reboot's exec
/// of the daemon (docs/seccomp.md §6): a tree outlives the boot (the
/// reboot ends only the processes that hold emulator fds), and a listener
/// closed would leave it to its keeper, which only continues calls until a
/// daemon takes it again (docs/seccomp.md). Their fds stay
/// open across the exec and are named in <see cref="Variable"/> as
/// FD:UID:PID, comma-separated.
/// </summary>
public static class KeptListeners
{
    public const string Variable = "LIVEUPDATEFS_LISTENERS";

    public static string Encode(IEnumerable<(SafeFd Fd, uint Uid, int Pid)> listeners) =>
        string.Join(',', listeners.Select(l => string.Create(CultureInfo.InvariantCulture, $"{l.Fd.Fd}:{l.Uid}:{l.Pid}")));

    /// <summary>The listeners the previous boot left; the variable is cleared
    /// so that nothing this daemon starts inherits it. Malformed entries are skipped.</summary>
    public static List<(SafeFd Fd, uint Uid, int Pid)> Adopt()
    {
        string? text = Environment.GetEnvironmentVariable(Variable);
        Environment.SetEnvironmentVariable(Variable, null);
        var listeners = new List<(SafeFd, uint, int)>();
        foreach (string entry in (text ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] parts = entry.Split(':');
            if (parts.Length == 3 && int.TryParse(parts[0], CultureInfo.InvariantCulture, out int fd) && fd > 2
                && uint.TryParse(parts[1], CultureInfo.InvariantCulture, out uint uid) && int.TryParse(parts[2], CultureInfo.InvariantCulture, out int pid))
            {
                var adopted = new SafeFd(fd);
                ProcessImage.SetCloseOnExec(adopted, close: true);
                listeners.Add((adopted, uid, pid));
            }
        }
        return listeners;
    }
}
