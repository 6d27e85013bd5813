using System.Text.Json;
using System.Text.Json.Nodes;
using LiveUpdateFs.Fuse;

namespace LiveUpdateFs.Host.Commands;

/// <summary>
/// `liveupdatefs status`: the daemon's status.json, with the processes that
/// hold fds of its device and of each session. Those are found here, by
/// this command, not by the daemon: a /proc scan on the daemon's one FUSE
/// thread would stall every caller. The scan has a time budget; a session's
/// holders are those of the node its fd is open on (status.json's "node").
/// </summary>
public static class StatusCommand
{
    private static readonly TimeSpan HolderScanBudget = TimeSpan.FromSeconds(2);
    private const string ScanIncomplete = "holders: scan incomplete (too many processes to look at within 2 s); the lists may miss some";

    public static int Run(string mountpoint, bool json)
    {
        DaemonMount daemon = DaemonMount.At(mountpoint);
        if (!daemon.Serving)
        {
            Console.Error.WriteLine($"liveupdatefs status: {daemon.Problem}");
            return 1;
        }
        JsonObject status = daemon.Status;
        bool complete = AddHolders(mountpoint, status);
        if (json)
            PrintJson(status);
        else
            PrintTable(mountpoint, daemon.DaemonPid, status);
        if (!complete)
            Console.Error.WriteLine(ScanIncomplete);
        return 0;
    }

    /// <summary>Fills in "deviceHolders", each session's "holders" and
    /// "holdersComplete"; false when the scan ran out of time.</summary>
    private static bool AddHolders(string mountpoint, JsonObject status)
    {
        Dictionary<string, List<int>> holders = EmulatorFdHolders.ByNode(mountpoint, HolderScanBudget, out bool complete);
        status["deviceHolders"] = Pids(holders.GetValueOrDefault(LuoNodes.DeviceName));
        foreach (JsonObject session in Sessions(status))
            session["holders"] = Pids(session["node"] is JsonValue node && node.TryGetValue(out string? name) ? holders.GetValueOrDefault(name) : null);
        status["holdersComplete"] = complete;
        return complete;
    }

    private static JsonArray Pids(List<int>? pids) => new((pids ?? []).Order().Select(p => (JsonNode)p).ToArray());

    private static IEnumerable<JsonObject> Sessions(JsonObject status) => (status["sessions"] as JsonArray ?? new JsonArray()).OfType<JsonObject>();

    private static void PrintJson(JsonObject status)
    {
        using Stream stdout = Console.OpenStandardOutput();
        using (var writer = new Utf8JsonWriter(stdout, new JsonWriterOptions { Indented = true }))
            status.WriteTo(writer);
        stdout.WriteByte((byte)'\n');
    }

    private static void PrintTable(string mountpoint, int pid, JsonObject status)
    {
        string deviceHolders = PidList(status["deviceHolders"]);
        Console.WriteLine($"daemon pid {pid}, device {Path.Combine(mountpoint, Defaults.DeviceNode)} "
            + (Flag(status, "deviceOpen") ? $"open (held by {deviceHolders})" : "closed")
            + (Flag(status, "frozen") ? ", frozen for a reboot" : ""));
        if (!Flag(status, "incomingLoaded"))
            Console.WriteLine("the device was not opened yet in this boot: sessions handed over by the previous one appear after its first open (spec §3)");
        var sessions = Sessions(status).ToList();
        // Wide enough for the longest name (up to 63 bytes, escaped).
        int width = Math.Max("SESSION".Length, sessions.Select(s => Text(s, "name").Length).DefaultIfEmpty(0).Max());
        Console.WriteLine($"{"SESSION".PadRight(width)} {"KIND",-10} {"HOLDERS",-12} {"TOKEN",20} {"SIZE",14} STATE");
        foreach (JsonObject session in sessions)
        {
            string line = $"{Text(session, "name").PadRight(width)} {Text(session, "kind"),-10} {PidList(session["holders"]),-12}";
            var files = (session["files"] as JsonArray ?? new JsonArray()).OfType<JsonObject>().ToList();
            if (files.Count == 0)
                Console.WriteLine($"{line} {"-",20} {"-",14} (no files)");
            foreach (JsonObject file in files)
            {
                long size = file["size"] is JsonValue value && value.TryGetValue(out long bytes) ? bytes : 0;
                Console.WriteLine($"{line} {Text(file, "token"),20} {size,14} {Text(file, "state")}");
            }
        }
    }

    private static string PidList(JsonNode? pids) =>
        pids is JsonArray { Count: > 0 } list ? string.Join(',', list.Select(p => p!.GetValue<int>())) : "-";

    private static bool Flag(JsonObject json, string name) => json[name] is JsonValue value && value.TryGetValue(out bool flag) && flag;

    private static string Text(JsonObject json, string name) => json[name] is JsonValue value && value.TryGetValue(out string? text) ? text : "";
}
