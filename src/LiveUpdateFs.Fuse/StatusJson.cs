using System.Text.Json;
using LiveUpdateFs.Core.Sessions;

namespace LiveUpdateFs.Fuse;

/// <summary>The content of status.json (written by hand: no reflection, AOT-safe).</summary>
public static class StatusJson
{
    /// <param name="mountArguments">`liveupdatefs` arguments that start a daemon like this one (used by `reboot`).</param>
    /// <param name="supervised">A supervisor (systemd) restarts the daemon after a reboot's freeze.</param>
    public static byte[] Render(OrchestratorSnapshot snapshot, IReadOnlyList<string> mountArguments, bool supervised)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteNumber("daemonPid", Environment.ProcessId);
            json.WriteStartArray("mountArguments");
            foreach (string argument in mountArguments)
                json.WriteStringValue(argument);
            json.WriteEndArray();
            json.WriteBoolean("supervised", supervised);
            json.WriteBoolean("deviceOpen", snapshot.DeviceOpen);
            json.WriteBoolean("frozen", snapshot.Frozen);
            json.WriteBoolean("incomingLoaded", snapshot.IncomingLoaded);
            json.WriteStartArray("sessions");
            foreach (SessionSnapshot session in snapshot.Sessions)
            {
                json.WriteStartObject();
                json.WriteNumber("id", session.Id);
                json.WriteString("name", session.Name);
                json.WriteString("kind", session.Kind);
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
