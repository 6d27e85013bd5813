namespace LiveUpdateFs.Tests.Integration;

/// <summary>A real daemon mounted on a private temporary mountpoint and store.</summary>
public sealed class MountedEmulator : IDisposable
{
    private MountedEmulator(string directory)
    {
        Directory = directory;
    }

    public string Directory { get; }
    public string Mountpoint => Path.Combine(Directory, "mnt");
    public string Store => Path.Combine(Directory, "store");
    public string Device => Path.Combine(Mountpoint, "liveupdate");

    public static MountedEmulator Start(string link = "none")
    {
        Repository.RequireArtifacts();
        var emulator = new MountedEmulator(System.IO.Directory.CreateTempSubdirectory("liveupdatefs-test-").FullName);
        ProcessResult mounted = emulator.Cli(["mount", "--mountpoint", emulator.Mountpoint, "--store", emulator.Store, "--link", link,
            "--log-level", "debug"]);
        if (mounted.ExitCode != 0)
            Assert.Fail($"liveupdatefs mount failed ({mounted.ExitCode}):\n{mounted.Output}\nlog:\n{emulator.LogTail()}");
        return emulator;
    }

    public ProcessResult Cli(IEnumerable<string> arguments) =>
        ProcessRunner.Run(Repository.Daemon, arguments, timeout: TimeSpan.FromSeconds(60));

    /// <summary>Runs a C test program against the device; nolib_* programs run without the preload library.</summary>
    public ProcessResult RunCTest(string name)
    {
        var environment = new Dictionary<string, string?>
        {
            ["LIVEUPDATE_DEVICE"] = Device,
            ["LD_PRELOAD"] = name.StartsWith("nolib_", StringComparison.Ordinal) ? null : Repository.PreloadLibrary,
            ["LIVEUPDATEFS_MOUNTPOINT"] = name.StartsWith("nolib_", StringComparison.Ordinal) ? null : Mountpoint,
        };
        return ProcessRunner.Run(Path.Combine(Repository.CTests, name), [], environment, TimeSpan.FromMinutes(5));
    }

    public string LogTail(int lines = 40)
    {
        string log = Path.Combine(Store, "liveupdatefs.log");
        return File.Exists(log) ? string.Join('\n', File.ReadLines(log).TakeLast(lines)) : "(no log)";
    }

    public void Dispose()
    {
        Cli(["unmount", "--mountpoint", Mountpoint]);
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
