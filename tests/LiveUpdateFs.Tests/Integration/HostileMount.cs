using System.Text.Json;
using System.Text.RegularExpressions;
using LiveUpdateFs.Interop;

namespace LiveUpdateFs.Tests.Integration;

/// <summary>
/// A mounted daemon for the hostile-caller tests, which may leave
/// it stuck: nothing here waits for the daemon without a bound. Its pid and
/// FUSE connection are recorded while it serves; a daemon that no longer
/// answers status.json at the end is SIGKILLed (its mount then gives
/// ENOTCONN, which frees every caller waiting on it), its connection aborted
/// through fusectl if it did not die, and its mountpoint detached
/// (`umount -l`). Stages of tests/c/hostile_stages run in the background and
/// are awaited up to their summary line, never longer than their limit.
/// </summary>
public sealed partial class HostileMount : IDisposable
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan ExitGrace = TimeSpan.FromSeconds(3);

    private readonly List<int> _leftovers = [];
    private readonly string? _connection;
    private bool _killed;

    private HostileMount(MountedEmulator emulator)
    {
        Emulator = emulator;
        DaemonPid = emulator.DaemonPid;
        string? device = MountTable.DeviceOf(emulator.Mountpoint);
        _connection = device?.Split(':') is [_, var minor] ? minor : null;
    }

    public MountedEmulator Emulator { get; }

    /// <summary>The daemon's pid, read once while it served.</summary>
    public int DaemonPid { get; }

    public string StatusPath => Path.Combine(Emulator.Mountpoint, "status.json");

    /// <param name="logLevel">information by default: the hostile tests make many requests.</param>
    public static HostileMount Start(string logLevel = "information") => new(MountedEmulator.Start(logLevel: logLevel));

    /// <summary>Processes to SIGKILL at the end (holders, crowds), in case the test does not get to it.</summary>
    public void KillAtEnd(int pid) => _leftovers.Add(pid);

    /// <summary>status.json is read within <paramref name="timeout"/> and names this daemon.
    /// A read that hangs is left behind: it ends with ENOTCONN once the daemon is killed.</summary>
    public bool Answers(TimeSpan timeout)
    {
        if (_killed)
            return false;
        Task<bool> read = Task.Run(() =>
        {
            try
            {
                using JsonDocument status = JsonDocument.Parse(File.ReadAllBytes(StatusPath));
                return status.RootElement.GetProperty("daemonPid").GetInt32() == DaemonPid;
            }
            catch (Exception ex) when (ex is IOException or JsonException or KeyNotFoundException or UnauthorizedAccessException)
            {
                return false;
            }
        });
        return read.Wait(timeout) && read.Result;
    }

    public bool Answers() => Answers(ProbeTimeout);

    /// <summary>The names of the sessions status.json lists, or null when it is not read within the probe time.</summary>
    public List<string>? SessionNames()
    {
        Task<List<string>?> read = Task.Run(() =>
        {
            try
            {
                using JsonDocument status = JsonDocument.Parse(File.ReadAllBytes(StatusPath));
                return status.RootElement.GetProperty("sessions").EnumerateArray().Select(s => s.GetProperty("name").GetString()!).ToList();
            }
            catch (Exception ex) when (ex is IOException or JsonException or KeyNotFoundException)
            {
                return null;
            }
        });
        return read.Wait(ProbeTimeout) ? read.Result : null;
    }

    public int DaemonFdCount() => Directory.EnumerateFileSystemEntries($"/proc/{DaemonPid}/fd").Count();

    public Dictionary<string, string?> ClientEnvironment(bool preload) => new()
    {
        ["LIVEUPDATE_DEVICE"] = Emulator.Device,
        ["LD_PRELOAD"] = preload ? Repository.PreloadLibrary : null,
        ["LIVEUPDATEFS_MOUNTPOINT"] = preload ? Emulator.Mountpoint : null,
    };

    /// <summary>Starts a program of artifacts/tests/c against this mount, in the background.</summary>
    public BackgroundProcess StartClient(string program, bool preload, params string[] arguments) =>
        BackgroundProcess.Start(Path.Combine(Repository.CTests, program), arguments, ClientEnvironment(preload));

    /// <summary>Runs hostile_stages with the preload library; see <see cref="RunClient"/>.</summary>
    public ProcessResult Run(TimeSpan limit, params string[] arguments) => RunClient("hostile_stages", limit, preload: true, arguments);

    /// <summary>
    /// Runs a C program (tests/c) against this mount and waits up to
    /// <paramref name="limit"/> for its "N passed, M failed" line. A program
    /// that printed it but does not exit (its exit waits for an answer of a
    /// daemon that stopped answering: a FUSE flush cannot be interrupted)
    /// gets the daemon killed when it no longer answers. TimedOut: no summary
    /// line within the limit.
    /// </summary>
    public ProcessResult RunClient(string program, TimeSpan limit, bool preload, string[] arguments)
    {
        using BackgroundProcess client = StartClient(program, preload, arguments);
        bool summarized = client.WaitForLine(IsSummary, limit);
        return Finish(client, summarized, $"{program} {string.Join(' ', arguments)}");
    }

    /// <summary>The end of a client that printed its summary (<paramref name="summarized"/>) or ran out of
    /// time: a few seconds to exit, then the daemon is killed if it no longer answers, and the client too.</summary>
    public ProcessResult Finish(BackgroundProcess client, bool summarized, string what)
    {
        if (!client.Exits(ExitGrace) && !Answers())
            KillDaemon($"{what} did not end and the daemon no longer answers");
        ProcessResult result = client.WaitForExit(TimeSpan.FromSeconds(10));
        return summarized ? result : result with { TimedOut = true };
    }

    /// <summary>The "N passed, M failed" line of tests/c/tap.h.</summary>
    public static bool IsSummary(string line) => Summary().IsMatch(line);

    /// <summary>SIGKILL to the daemon, then its mount detached; abort through fusectl if it does not die.</summary>
    public void KillDaemon(string why)
    {
        if (_killed)
            return;
        _killed = true;
        TestContext.Out.WriteLine($"hostile: killing daemon {DaemonPid} ({why})");
        Signals.Kill(DaemonPid);
        if (!ProcessExit.Wait(DaemonPid, TimeSpan.FromSeconds(5)) && _connection is not null)
        {
            // Still alive (a thread in an uninterruptible wait): the connection is still this mount's.
            string abort = $"/sys/fs/fuse/connections/{_connection}/abort";
            try
            {
                if (File.Exists(abort))
                    File.WriteAllText(abort, "1");
            }
            catch (IOException)
            {
            }
            ProcessExit.Wait(DaemonPid, TimeSpan.FromSeconds(5));
        }
        MountDetach.Detach(Emulator.Mountpoint);
    }

    public void Dispose()
    {
        foreach (int pid in _leftovers)
            Signals.Kill(pid);
        if (!_killed && !Answers())
            KillDaemon("it no longer answers status.json");
        Emulator.Dispose(); // `liveupdatefs unmount`: with a dead daemon it only clears the mount
    }

    [GeneratedRegex(@"^\d+ passed, \d+ failed$")]
    private static partial Regex Summary();
}
