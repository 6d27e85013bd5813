namespace LiveUpdateFs.Host;

/// <summary>Where things live when the user names nothing (design.md "Defaults").</summary>
public static class Defaults
{
    public const string Mountpoint = "/run/liveupdatefs";
    public const string Store = "/var/lib/liveupdatefs";
    public const string Link = "/dev/liveupdate";
    public const string DeviceNode = "liveupdate";
    public const string StatusFile = "status.json";
    public const string LogFileName = "liveupdatefs.log";
    public const string PreloadLibraryName = "libliveupdate-preload.so";

    /// <summary>artifacts/lib beside artifacts/bin.</summary>
    public static string PreloadLibrary =>
        Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "lib", PreloadLibraryName));
}
