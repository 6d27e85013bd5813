using LiveUpdateFs.Fuse;
using LiveUpdateFs.Interop;

namespace LiveUpdateFs.Host.Daemon;

/// <summary>The options of `liveupdatefs mount`, and the arguments that mount a daemon like this one again.</summary>
public sealed record MountOptions(string Mountpoint, string Store, string? Link, bool Foreground, LogSettings Log,
    bool GetNameFix, bool FinishChecksReserved, string? DeviceMode = null, string? DeviceGroup = null, int FreezeTimeoutSeconds = MountOptions.DefaultFreezeTimeoutSeconds)
{
    /// <summary>How long a reboot's freeze waits for its restart request by
    /// default: the reboot command sends it right after ending the holders.</summary>
    public const int DefaultFreezeTimeoutSeconds = 30;

    public TimeSpan FreezeTimeout => TimeSpan.FromSeconds(FreezeTimeoutSeconds);

    /// <summary>Who may open the device; null when the options are unusable (<paramref name="problem"/> says why).</summary>
    public NodeAccess? Access(out string? problem) => NodeAccess.Parse(DeviceMode, DeviceGroup, out problem);

    /// <summary>Where the log goes: the given file; for a background daemon
    /// STORE/liveupdatefs.log; in the foreground stderr (null).</summary>
    public string? LogFile => Log.File ?? (Foreground ? null : Path.Combine(Store, Defaults.LogFileName));

    /// <summary>The link to create: the default one when root, none for 'none'.</summary>
    public string? LinkPath => Link switch
    {
        null => CurrentUser.IsRoot ? Defaults.Link : null,
        "none" or "" => null,
        var path => Path.GetFullPath(path),
    };

    /// <summary>The `liveupdatefs` arguments of a daemon serving in the
    /// foreground like this one (the background start and the in-place
    /// reboot's exec use them).</summary>
    public List<string> DaemonArguments()
    {
        List<string> arguments = ["mount", "--mountpoint", Mountpoint, "--store", Store, "--link", LinkPath ?? "none",
            "--log-level", Log.Level, "--log-format", Log.Format, "--foreground"];
        if (LogFile is { } file)
            arguments.AddRange(["--log-file", file]);
        if (!GetNameFix)
            arguments.Add("--getname-size16");
        if (FinishChecksReserved)
            arguments.Add("--finish-checks-reserved");
        if (DeviceMode is not null)
            arguments.AddRange(["--device-mode", DeviceMode]);
        if (DeviceGroup is not null)
            arguments.AddRange(["--device-group", DeviceGroup]);
        if (FreezeTimeoutSeconds != DefaultFreezeTimeoutSeconds)
            arguments.AddRange(["--freeze-timeout", FreezeTimeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        return arguments;
    }
}
