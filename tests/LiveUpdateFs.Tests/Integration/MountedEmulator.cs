using System.Text.Json;
using System.Text.RegularExpressions;

namespace LiveUpdateFs.Tests.Integration;

/// <summary>A real daemon mounted on a private temporary mountpoint and store.</summary>
public sealed partial class MountedEmulator : IDisposable
{
    private readonly string _link;
    private readonly List<int> _holders = [];

    private MountedEmulator(string directory, string link)
    {
        Directory = directory;
        _link = link;
    }

    public string Directory { get; }
    public string Mountpoint => Path.Combine(Directory, "mnt");
    public string Store => Path.Combine(Directory, "store");
    public string Device => Path.Combine(Mountpoint, "liveupdate");

    /// <param name="environment">Extra environment of the daemon (e.g. the fault switch).</param>
    /// <param name="logLevel">The daemon's --log-level; debug (every request) unless a test makes too many requests for it.</param>
    public static MountedEmulator Start(string link = "none", IDictionary<string, string?>? environment = null, string logLevel = "debug")
    {
        MountedEmulator emulator = Create(link);
        emulator.Mount(environment, logLevel);
        return emulator;
    }

    /// <summary>The directories only; <see cref="Mount"/> starts the daemon
    /// (the store can be filled first).</summary>
    public static MountedEmulator Create(string link = "none")
    {
        Repository.RequireArtifacts();
        return new MountedEmulator(System.IO.Directory.CreateTempSubdirectory("liveupdatefs-test-").FullName, link);
    }

    /// <summary>Starts a daemon on this mountpoint and store (again, after a stop or a crash).</summary>
    public void Mount(IDictionary<string, string?>? environment = null, string logLevel = "debug")
    {
        ProcessResult mounted = Cli(["mount", "--mountpoint", Mountpoint, "--store", Store, "--link", _link, "--log-level", logLevel], environment);
        if (mounted.ExitCode != 0)
            Assert.Fail($"liveupdatefs mount failed ({mounted.ExitCode}):\n{mounted.Output}\nlog:\n{LogTail()}");
    }

    public ProcessResult Cli(IEnumerable<string> arguments, IDictionary<string, string?>? environment = null) =>
        ProcessRunner.Run(Repository.Daemon, arguments, environment, timeout: TimeSpan.FromSeconds(60));

    /// <summary>`liveupdatefs reboot` on this mountpoint.</summary>
    public ProcessResult Reboot(IDictionary<string, string?>? environment = null, params string[] options) =>
        Cli(["reboot", "--mountpoint", Mountpoint, .. options], environment);

    /// <summary>Runs a C test program against the device; nolib_* programs run without the preload library.</summary>
    public ProcessResult RunCTest(string name, params string[] arguments) =>
        RunCTest(name, DefaultMode(name), arguments);

    /// <summary>What a program of tests/c runs with when the test does not say: the preload
    /// library, except for nolib_* programs, which test its absence.</summary>
    public static ClientMode DefaultMode(string name) =>
        name.StartsWith("nolib_", StringComparison.Ordinal) ? ClientMode.NoLibrary : ClientMode.Preload;

    /// <param name="timeout">How long the program may run before it is killed (and the result says TimedOut); default 5 minutes.</param>
    public ProcessResult RunCTest(string name, ClientMode mode, string[] arguments, IDictionary<string, string?>? extra = null, TimeSpan? timeout = null) =>
        RunClient(CTestPath(name, mode), mode, arguments, extra, timeout);

    /// <summary>The build of tests/c/NAME that <paramref name="mode"/> runs: the static one for SeccompStatic.</summary>
    public static string CTestPath(string name, ClientMode mode) =>
        mode == ClientMode.SeccompStatic ? Path.Combine(Repository.CTests, "static", name) : Path.Combine(Repository.CTests, name);

    /// <summary>Runs a client program (any path) against the device in <paramref name="mode"/>
    /// (for SeccompStatic the caller passes the static build's path).</summary>
    public ProcessResult RunClient(string program, ClientMode mode, string[] arguments, IDictionary<string, string?>? extra = null, TimeSpan? timeout = null)
    {
        (string file, string[] argv, Dictionary<string, string?> environment) = ClientCommand(program, mode, arguments, extra);
        return ProcessRunner.Run(file, argv, environment, timeout ?? TimeSpan.FromMinutes(5));
    }

    /// <summary>Starts a client program in <paramref name="mode"/> in the background.</summary>
    public BackgroundProcess StartClient(string program, ClientMode mode, string[] arguments, IDictionary<string, string?>? extra = null)
    {
        (string file, string[] argv, Dictionary<string, string?> environment) = ClientCommand(program, mode, arguments, extra);
        return BackgroundProcess.Start(file, argv, environment);
    }

    /// <summary>
    /// The command line and environment that run <paramref name="program"/> against this mount in
    /// <paramref name="mode"/>. Under `run` the program is exec'd in place, so the started
    /// process's pid is the program's. No mode inherits the test runner's LD_PRELOAD,
    /// LIVEUPDATEFS_MOUNTPOINT or LIVEUPDATEFS_SECCOMP (which would make `run` believe it is
    /// nested in a run tree already).
    /// </summary>
    public (string Program, string[] Arguments, Dictionary<string, string?> Environment) ClientCommand(
        string program, ClientMode mode, string[] arguments, IDictionary<string, string?>? extra = null)
    {
        bool preload = mode == ClientMode.Preload;
        var environment = new Dictionary<string, string?>
        {
            ["LIVEUPDATE_DEVICE"] = Device,
            ["LD_PRELOAD"] = preload ? Repository.PreloadLibrary : null,
            ["LIVEUPDATEFS_MOUNTPOINT"] = preload ? Mountpoint : null,
            ["LIVEUPDATEFS_SECCOMP"] = null,
        };
        foreach ((string key, string? value) in extra ?? new Dictionary<string, string?>())
            environment[key] = value;
        return mode is ClientMode.Seccomp or ClientMode.SeccompStatic
            ? (Repository.Daemon, ["run", "--mountpoint", Mountpoint, "--", program, .. arguments], environment)
            : (program, arguments, environment);
    }

    /// <summary>One stage of tests/c/reboot_stages; it must pass every case.
    /// Returns the pid of the holder it left (0 if none); Dispose ends leftovers.</summary>
    public int RunStage(string stage, out ProcessResult result) => RunStage(stage, DefaultMode("reboot_stages"), out result);

    /// <summary>One stage of tests/c/reboot_stages in <paramref name="mode"/>; see <see cref="RunStage(string, out ProcessResult)"/>.</summary>
    public int RunStage(string stage, ClientMode mode, out ProcessResult result)
    {
        result = RunCTest("reboot_stages", mode, [stage]);
        Tap.AssertAllPassed(result, $"reboot_stages {stage} ({mode})", this);
        Match holder = HolderLine().Match(result.Output);
        int pid = holder.Success ? int.Parse(holder.Groups[1].Value) : 0;
        if (pid > 0)
            _holders.Add(pid);
        return pid;
    }

    public int RunStage(string stage) => RunStage(stage, out _);

    public int RunStage(string stage, ClientMode mode) => RunStage(stage, mode, out _);

    /// <summary>Runs reboot_stages crash-check (which must pass: it retrieves,
    /// checks and FINISHes whatever it finds) and returns the state it found:
    /// "old", "new" or "none".</summary>
    public string CrashCheck()
    {
        RunStage("crash-check", out ProcessResult result);
        Match state = StateLine().Match(result.Output);
        Assert.That(state.Success, Is.True, result.Output);
        return state.Groups[1].Value;
    }

    /// <summary>SIGKILL to the serving daemon (a crash: no freeze, no unmount);
    /// returns once it has exited. A pidfd says so at the exit itself: the
    /// orphaned daemon's zombie waits for a reaper that may be slow.</summary>
    public void KillDaemon()
    {
        int pid = DaemonPid;
        Assert.That(LiveUpdateFs.Interop.Signals.Kill(pid), Is.EqualTo(LiveUpdateFs.Uapi.Errno.None), $"kill -9 {pid}");
        Assert.That(LiveUpdateFs.Interop.ProcessExit.Wait(pid, TimeSpan.FromSeconds(20)), Is.True, $"daemon {pid} did not die");
    }

    /// <summary>The daemon's status.json, or null when no daemon answers.</summary>
    public JsonDocument? Status()
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Mountpoint, "status.json")));
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>The serving daemon's pid (status.json).</summary>
    public int DaemonPid =>
        Status()?.RootElement.GetProperty("daemonPid").GetInt32() ?? throw new InvalidOperationException("no daemon answers");

    public string? CommittedGeneration =>
        File.Exists(Path.Combine(Store, "current")) ? File.ReadAllText(Path.Combine(Store, "current")).Trim() : null;

    public string LogTail(int lines = 40)
    {
        string log = Path.Combine(Store, "liveupdatefs.log");
        return File.Exists(log) ? string.Join('\n', File.ReadLines(log).TakeLast(lines)) : "(no log)";
    }

    public static bool IsAlive(int pid) =>
        File.Exists($"/proc/{pid}/stat") && File.ReadAllText($"/proc/{pid}/stat").Split(") ").Last()[0] is not ('Z' or 'X');

    public void Dispose()
    {
        foreach (int pid in _holders.Where(IsAlive))
            LiveUpdateFs.Interop.Signals.Kill(pid);
        Cli(["unmount", "--mountpoint", Mountpoint]);
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [GeneratedRegex(@"^# holder pid (\d+)$", RegexOptions.Multiline)]
    private static partial Regex HolderLine();

    [GeneratedRegex(@"^# state (old|new|none)$", RegexOptions.Multiline)]
    private static partial Regex StateLine();
}
