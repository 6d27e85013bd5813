using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;
using Serilog;

namespace LiveUpdateFs.Host;

/// <summary>Small host-level facts and chores.</summary>
public static class HostSys
{
    /// <summary>This program, to start again as the daemon.</summary>
    public static string SelfExecutable => Environment.ProcessPath ?? throw new InvalidOperationException("cannot find this program's path");

    /// <summary>Arguments needed before the command when running as `dotnet liveupdatefs.dll`.</summary>
    public static IEnumerable<string> SelfArguments =>
        Path.GetFileNameWithoutExtension(SelfExecutable) == "dotnet"
            ? [Path.Combine(AppContext.BaseDirectory, "liveupdatefs.dll")]
            : [];

    /// <summary>Creates the mountpoint, and clears a mount left by a daemon
    /// that died (its directory then fails with ENOTCONN).</summary>
    public static void PrepareMountpoint(string mountpoint, ILogger log)
    {
        try
        {
            Directory.CreateDirectory(mountpoint);
            _ = Directory.GetFileSystemEntries(mountpoint);
        }
        catch (IOException ex)
        {
            log.Warning("The mountpoint {Mountpoint} holds a dead mount ({Error}); detaching it", mountpoint, ex.Message);
            DetachMount(mountpoint);
            Directory.CreateDirectory(mountpoint);
        }
    }

    /// <summary>Removes a (dead) mount even with files open on it: umount2
    /// MNT_DETACH as root, `fusermount3 -u -z` for the user who mounted it.</summary>
    public static Errno DetachMount(string mountpoint)
    {
        Errno detached = ProcessControl.DetachMount(mountpoint);
        if (detached != Errno.EPERM || !File.Exists("/usr/bin/fusermount3"))
            return detached;
        using var fusermount = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("/usr/bin/fusermount3", ["-u", "-z", mountpoint])
        {
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        fusermount.WaitForExit();
        return fusermount.ExitCode == 0 ? Errno.None : Errno.EPERM;
    }

    public static IEnumerable<string> Tail(string file, int lines)
    {
        try
        {
            return File.ReadAllLines(file).TakeLast(lines).ToList();
        }
        catch (IOException)
        {
            return ["(no log)"];
        }
    }
}

/// <summary>One daemon per store: an exclusive lock on STORE/lock for the daemon's life.</summary>
public sealed class StoreLock : IDisposable
{
    private readonly FileStream _lock;

    private StoreLock(FileStream lockFile) => _lock = lockFile;

    /// <summary>How long a start waits for the lock of a daemon that is still
    /// exiting (one just killed closes its files a moment after its mount went away).</summary>
    private static readonly TimeSpan DyingOwnerGrace = TimeSpan.FromSeconds(2);

    public static StoreLock Acquire(string store)
    {
        Directory.CreateDirectory(store, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.SetUnixFileMode(store, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            try
            {
                // FileShare.None takes an exclusive flock() on Unix.
                return new StoreLock(new FileStream(Path.Combine(store, "lock"), new FileStreamOptions
                {
                    Mode = FileMode.OpenOrCreate,
                    Access = FileAccess.ReadWrite,
                    Share = FileShare.None,
                    UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                }));
            }
            catch (IOException) when (clock.Elapsed < DyingOwnerGrace)
            {
                Thread.Sleep(20);
            }
            catch (IOException)
            {
                throw new InvalidOperationException($"the store {store} is locked by another liveupdatefs daemon: stop that one first, or give this one its own --store");
            }
        }
    }

    public void Dispose() => _lock.Dispose();
}

/// <summary>The --link symlink (e.g. /dev/liveupdate), removed again on a clean stop.</summary>
public sealed class DeviceLink : IDisposable
{
    private readonly string? _path;
    private readonly string _target;

    private DeviceLink(string? path, string target)
    {
        _path = path;
        _target = target;
    }

    public static DeviceLink Create(string? path, string target, ILogger log)
    {
        if (path is null)
            return new DeviceLink(null, target);
        var existing = new FileInfo(path);
        if (existing.Exists || existing.LinkTarget is not null)
        {
            if (existing.LinkTarget is null)
                throw new InvalidOperationException($"{path} exists and is not a symlink (a real LUO kernel device?); choose another --link, or --link none");
            existing.Delete();
        }
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.CreateSymbolicLink(path, target);
        log.Information("Linked {Link} -> {Target}", path, target);
        return new DeviceLink(path, target);
    }

    public void Dispose()
    {
        if (_path is not null && new FileInfo(_path).LinkTarget == _target)
            File.Delete(_path);
    }
}
