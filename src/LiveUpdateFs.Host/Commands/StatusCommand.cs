using LiveUpdateFs.Fuse;
using LiveUpdateFs.Fuse.Status;

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
        StatusDocument status = WithHolders(mountpoint, daemon.Status);
        if (json)
        {
            using Stream stdout = Console.OpenStandardOutput();
            stdout.Write(status.ToJson());
        }
        else
        {
            PrintTable(mountpoint, status);
        }
        if (status.HoldersComplete != true)
            Console.Error.WriteLine(ScanIncomplete);
        return 0;
    }

    /// <summary>The document with "deviceHolders", each session's "holders"
    /// and "holdersComplete" (false when the scan ran out of time).</summary>
    private static StatusDocument WithHolders(string mountpoint, StatusDocument status)
    {
        Dictionary<string, List<int>> holders = EmulatorFdHolders.ByNode(mountpoint, HolderScanBudget, out bool complete);
        return status with
        {
            DeviceHolders = Pids(holders.GetValueOrDefault(LuoNodes.DeviceName)),
            Sessions = [.. status.Sessions.Select(s => s with { Holders = Pids(s.Node is null ? null : holders.GetValueOrDefault(s.Node)) })],
            HoldersComplete = complete,
        };
    }

    private static int[] Pids(List<int>? pids) => [.. (pids ?? []).Order()];

    private static void PrintTable(string mountpoint, StatusDocument status)
    {
        Console.WriteLine($"daemon pid {status.DaemonPid}, device {Path.Combine(mountpoint, Defaults.DeviceNode)} "
            + (status.DeviceOpen ? $"open (held by {PidList(status.DeviceHolders)})" : "closed")
            + (status.Frozen ? ", frozen for a reboot" : ""));
        if (!status.IncomingLoaded)
            Console.WriteLine("the device was not opened yet in this boot: sessions handed over by the previous one appear after its first open (docs/behaviour.md §3)");
        // Wide enough for the longest name (up to 63 bytes, escaped).
        int width = Math.Max("SESSION".Length, status.Sessions.Select(s => s.Name.Length).DefaultIfEmpty(0).Max());
        Console.WriteLine($"{"SESSION".PadRight(width)} {"KIND",-10} {"HOLDERS",-12} {"TOKEN",20} {"SIZE",14} STATE");
        foreach (StatusSession session in status.Sessions)
        {
            string line = $"{session.Name.PadRight(width)} {session.Kind,-10} {PidList(session.Holders),-12}";
            if (session.Files.Count == 0)
                Console.WriteLine($"{line} {"-",20} {"-",14} (no files)");
            foreach (StatusFile file in session.Files)
                Console.WriteLine($"{line} {file.Token,20} {file.Size,14} {file.State}");
        }
    }

    private static string PidList(IReadOnlyList<int>? pids) => pids is { Count: > 0 } ? string.Join(',', pids) : "-";
}
