using Serilog;

namespace LiveUpdateFs.Host.Daemon;

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
