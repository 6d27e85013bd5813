namespace LiveUpdateFs.Host.Daemon;

/// <summary>How the daemon logs: level, text or JSON lines, stderr or a file.</summary>
public sealed record LogSettings(string Level, string Format, string? File)
{
    public static readonly string[] Formats = ["text", "json"];
}
