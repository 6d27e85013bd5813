using System.Net.Sockets;
using System.Text;

namespace LiveUpdateFs.Host.Daemon;

/// <summary>
/// systemd's readiness protocol (sd_notify): one datagram to $NOTIFY_SOCKET.
/// Type=notify units learn that the node serves (READY=1) and that a stop
/// began (STOPPING=1). Without NOTIFY_SOCKET nothing is sent.
/// </summary>
public static class ServiceManager
{
    /// <summary>Exit status of a daemon that froze for `liveupdatefs reboot`
    /// under a supervisor: "start me again" (the unit's RestartForceExitStatus).</summary>
    public const int RestartForLiveUpdate = 75;

    private static string? Socket => Environment.GetEnvironmentVariable("NOTIFY_SOCKET") is { Length: > 0 } path ? path : null;

    /// <summary>A supervisor restarts this daemon (so `reboot` need not).</summary>
    public static bool Supervised => Socket is not null;

    public static void Notify(string state)
    {
        if (Socket is not { } path)
            return;
        // '@' names a socket in the abstract namespace.
        string address = path[0] == '@' ? "\0" + path[1..] : path;
        try
        {
            using var socket = new System.Net.Sockets.Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            socket.SendTo(Encoding.UTF8.GetBytes(state), new UnixDomainSocketEndPoint(address));
        }
        catch (SocketException)
        {
            // The supervisor went away; serving goes on.
        }
    }
}
