using System.Text.Json;
using LiveUpdateFs.Core.Sessions;

namespace LiveUpdateFs.Fuse;

/// <summary>The content of status.json (written by hand: no reflection, AOT-safe).</summary>
public static class StatusJson
{
    /// <param name="nodes">Session id → the per-session node its fd is open on
    /// (`status` finds the pids holding it; the daemon never scans /proc for that:
    /// docs/blocking.md).</param>
    /// <param name="reboot">Where the boot is in a reboot (serving, frozen, committed).</param>
    public static byte[] Render(OrchestratorSnapshot snapshot, DaemonFacts daemon, IReadOnlyDictionary<long, string> nodes, string reboot = "serving")
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteNumber("daemonPid", Environment.ProcessId);
            json.WriteString("boot", daemon.Boot);
            json.WriteBoolean("supervised", daemon.Supervised);
            json.WriteBoolean("deviceOpen", snapshot.DeviceOpen);
            json.WriteBoolean("frozen", snapshot.Frozen);
            json.WriteString("reboot", reboot);
            json.WriteBoolean("incomingLoaded", snapshot.IncomingLoaded);
            json.WriteStartArray("sessions");
            foreach (SessionSnapshot session in snapshot.Sessions)
            {
                json.WriteStartObject();
                json.WriteNumber("id", session.Id);
                json.WriteString("name", session.Name);
                json.WriteString("kind", session.Kind);
                // The node names the session's fd in /proc/PID/fd: `status` finds its holders by it.
                json.WriteString("node", nodes.GetValueOrDefault(session.Id));
                json.WriteStartArray("files");
                foreach (FileSnapshot file in session.Files)
                {
                    json.WriteStartObject();
                    json.WriteString("token", file.Token.ToString());
                    json.WriteString("handler", file.Handler);
                    json.WriteNumber("size", file.Size);
                    json.WriteString("state", file.State);
                    json.WriteEndObject();
                }
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        stream.WriteByte((byte)'\n');
        return stream.ToArray();
    }
}

/// <summary>What status.json tells about the daemon itself.</summary>
/// <param name="Mountpoint">Where it is mounted (to find the fd holders); null: unknown.</param>
/// <param name="Supervised">A supervisor (systemd) restarts the daemon after a reboot's freeze.</param>
/// <param name="Boot">Names this boot (this instance of the daemon); an in-place reboot keeps the pid and changes it.</param>
public sealed record DaemonFacts(string? Mountpoint, bool Supervised, string Boot)
{
    public static readonly DaemonFacts Unknown = new(null, false, "");
}
