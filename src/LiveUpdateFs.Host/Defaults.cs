using LiveUpdateFs.Interop;

namespace LiveUpdateFs.Host;

/// <summary>Where things live when the user names nothing (docs/design.md §10.3).</summary>
public static class Defaults
{
    /// <summary>/run/liveupdatefs; without root $XDG_RUNTIME_DIR/liveupdatefs (or /tmp/liveupdatefs-UID).</summary>
    public static string Mountpoint => CurrentUser.IsRoot ? "/run/liveupdatefs"
        : Path.Combine(Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR") is { Length: > 0 } run ? run : $"/tmp/liveupdatefs-{CurrentUser.EffectiveUid}",
            "liveupdatefs");

    /// <summary>/var/lib/liveupdatefs; without root $XDG_STATE_HOME/liveupdatefs (or ~/.local/state/liveupdatefs).</summary>
    public static string Store => CurrentUser.IsRoot ? "/var/lib/liveupdatefs"
        : Path.Combine(Environment.GetEnvironmentVariable("XDG_STATE_HOME") is { Length: > 0 } state ? state
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "state"), "liveupdatefs");

    /// <summary>Only root may create it (and only root may open a root daemon's node).</summary>
    public const string Link = "/dev/liveupdate";
    public const string DeviceNode = "liveupdate";
    public const string StatusFile = "status.json";
    public const string LogFileName = "liveupdatefs.log";
    public const string PreloadLibraryName = "libliveupdate-preload.so";

    /// <summary>The listener keeper of `liveupdatefs run` (src/native/liveupdatefs-keeper.c), in artifacts/lib.</summary>
    public static string ListenerKeeper =>
        Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "lib", "liveupdatefs-keeper"));

    /// <summary>artifacts/lib beside artifacts/bin.</summary>
    public static string PreloadLibrary =>
        Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "lib", PreloadLibraryName));
}
