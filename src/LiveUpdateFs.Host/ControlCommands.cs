using System.Diagnostics;
using System.Text.Json;
using LiveUpdateFs.Interop;

namespace LiveUpdateFs.Host;

/// <summary>`unmount`, `status` and `run`: they talk to a running daemon
/// through its mount (status.json), never through private state.</summary>
public static class ControlCommands
{
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(15);

    public static bool TryReadStatus(string mountpoint, out int daemonPid) => TryReadStatus(mountpoint, out daemonPid, out _);

    public static bool TryReadStatus(string mountpoint, out int daemonPid, out JsonDocument? document)
    {
        daemonPid = 0;
        document = null;
        try
        {
            document = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(mountpoint, Defaults.StatusFile)));
            daemonPid = document.RootElement.GetProperty("daemonPid").GetInt32();
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException or KeyNotFoundException)
        {
            document?.Dispose();
            document = null;
            return false;
        }
    }

    public static int Unmount(string mountpoint)
    {
        if (!TryReadStatus(mountpoint, out int pid))
        {
            // No daemon answers: clear whatever mount is left there.
            var detached = HostSys.DetachMount(mountpoint);
            Console.WriteLine(detached.IsError
                ? $"liveupdatefs: nothing is mounted at {mountpoint}"
                : $"liveupdatefs: removed a dead mount at {mountpoint}");
            return 0;
        }
        ProcessControl.Terminate(pid);
        if (!ProcessControl.WaitForExit(pid, StopTimeout))
        {
            Console.Error.WriteLine($"liveupdatefs unmount: daemon {pid} did not stop within {StopTimeout.TotalSeconds} s; kill it with: kill -9 {pid}, then run unmount again");
            return 1;
        }
        Console.WriteLine($"liveupdatefs: stopped daemon {pid} and unmounted {mountpoint}");
        return 0;
    }

    public static int Status(string mountpoint, bool json)
    {
        if (!TryReadStatus(mountpoint, out int pid, out JsonDocument? document))
        {
            Console.Error.WriteLine($"liveupdatefs status: no daemon serves {mountpoint}; start one with: liveupdatefs mount --mountpoint {mountpoint}");
            return 1;
        }
        using (document)
        {
            if (json)
            {
                Console.WriteLine(File.ReadAllText(Path.Combine(mountpoint, Defaults.StatusFile)).TrimEnd());
                return 0;
            }
            JsonElement root = document!.RootElement;
            string deviceHolders = Pids(root.GetProperty("deviceHolders"));
            Console.WriteLine($"daemon pid {pid}, device {Path.Combine(mountpoint, Defaults.DeviceNode)} "
                + (root.GetProperty("deviceOpen").GetBoolean() ? $"open (held by {deviceHolders})" : "closed")
                + (root.GetProperty("frozen").GetBoolean() ? ", frozen for a reboot" : ""));
            if (!root.GetProperty("incomingLoaded").GetBoolean())
                Console.WriteLine("the device was not opened yet in this boot: sessions handed over by the previous one appear after its first open (spec §3)");
            var sessions = root.GetProperty("sessions").EnumerateArray().ToList();
            // Wide enough for the longest name (up to 63 bytes, escaped).
            int width = Math.Max("SESSION".Length, sessions.Select(s => s.GetProperty("name").GetString()!.Length).DefaultIfEmpty(0).Max());
            Console.WriteLine($"{"SESSION".PadRight(width)} {"KIND",-10} {"HOLDERS",-12} {"TOKEN",20} {"SIZE",14} STATE");
            foreach (JsonElement session in sessions)
            {
                string line = $"{session.GetProperty("name").GetString()!.PadRight(width)} {session.GetProperty("kind").GetString(),-10} {Pids(session.GetProperty("holders")),-12}";
                var files = session.GetProperty("files").EnumerateArray().ToList();
                if (files.Count == 0)
                    Console.WriteLine($"{line} {"-",20} {"-",14} (no files)");
                foreach (JsonElement file in files)
                    Console.WriteLine($"{line} {file.GetProperty("token").GetString(),20} {file.GetProperty("size").GetInt64(),14} {file.GetProperty("state").GetString()}");
            }
        }
        return 0;
    }

    private static string Pids(JsonElement pids) =>
        pids.GetArrayLength() == 0 ? "-" : string.Join(',', pids.EnumerateArray().Select(p => p.GetInt32()));

    public static int Run(string mountpoint, string[] program)
    {
        string library = Defaults.PreloadLibrary;
        if (!File.Exists(library))
        {
            Console.Error.WriteLine($"liveupdatefs run: the preload library {library} is missing; build it with ./scripts/setup");
            return 2;
        }
        var start = new ProcessStartInfo { FileName = program[0], UseShellExecute = false };
        foreach (string arg in program.Skip(1))
            start.ArgumentList.Add(arg);
        string? existing = Environment.GetEnvironmentVariable("LD_PRELOAD");
        start.Environment["LD_PRELOAD"] = string.IsNullOrEmpty(existing) ? library : $"{library}:{existing}";
        start.Environment["LIVEUPDATEFS_MOUNTPOINT"] = mountpoint;
        try
        {
            using Process child = Process.Start(start)!;
            child.WaitForExit();
            return child.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            Console.Error.WriteLine($"liveupdatefs run: cannot start {program[0]}: {ex.Message}");
            return 127;
        }
    }
}
