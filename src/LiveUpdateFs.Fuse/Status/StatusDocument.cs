using System.Text.Json;
using System.Text.Json.Serialization;
using LiveUpdateFs.Core.Sessions;

namespace LiveUpdateFs.Fuse.Status;

/// <summary>
/// status.json: what the daemon tells about itself and its sessions, the one
/// contract between the daemon that writes it and the commands (and scripts,
/// through docs/status.schema.json, which describes the same keys) that read it. Rendered from memory on
/// each read, no /proc scan (docs/blocking.md). The holder fields are empty
/// in the daemon's document: `status --json` fills them in.
/// </summary>
/// <param name="Reboot">Where the boot is in a reboot: serving, frozen or committed.</param>
/// <param name="IncomingLoaded">The previous boot's sessions were loaded (at the device's first open).</param>
/// <param name="FuseRequests">The FUSE requests this boot has answered, by operation.</param>
/// <param name="DeviceHolders">Pids holding the device open (`status` only).</param>
/// <param name="HoldersComplete">The holder scan finished within its budget (`status` only).</param>
public sealed record StatusDocument(
    int DaemonPid,
    string Boot,
    bool Supervised,
    bool DeviceOpen,
    bool Frozen,
    string Reboot,
    bool IncomingLoaded,
    StatusRequests FuseRequests,
    IReadOnlyList<StatusSession> Sessions,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<int>? DeviceHolders = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] bool? HoldersComplete = null)
{
    /// <param name="nodes">Session id → the per-session node its fd is open on
    /// (`status` finds the pids holding it).</param>
    public static StatusDocument Of(OrchestratorSnapshot snapshot, DaemonFacts daemon, IReadOnlyDictionary<long, string> nodes, string reboot, StatusRequests requests) =>
        new(Environment.ProcessId, daemon.Boot, daemon.Supervised, snapshot.DeviceOpen, snapshot.Frozen, reboot, snapshot.IncomingLoaded, requests,
            [.. snapshot.Sessions.Select(s => new StatusSession(s.Id, s.Name, s.Kind, nodes.GetValueOrDefault(s.Id),
                [.. s.Files.Select(f => new StatusFile(f.Token.ToString(System.Globalization.CultureInfo.InvariantCulture), f.Handler, f.Size, f.State))]))]);

    /// <summary>Indented UTF-8 JSON with a final newline (source-generated: AOT-safe).</summary>
    public byte[] ToJson()
    {
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(this, StatusJsonContext.Default.StatusDocument);
        return [.. json, (byte)'\n'];
    }

    /// <summary>The document in <paramref name="json"/>, or null when it is not
    /// one: malformed, a key missing, or a value of the wrong type.</summary>
    public static StatusDocument? Parse(ReadOnlySpan<byte> json)
    {
        try
        {
            return JsonSerializer.Deserialize(json, StatusJsonContext.Default.StatusDocument);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
