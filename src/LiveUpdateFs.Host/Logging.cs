using Serilog;
using Serilog.Events;

namespace LiveUpdateFs.Host;

/// <summary>Serilog set-up: one line per event on stderr (or the daemon's log
/// file), with the request's context properties (caller pid).</summary>
public static class Logging
{
    private const string Template = "{Timestamp:yyyy-MM-dd HH:mm:ss.fff} [{Level:u3}] {Message:lj} {Properties}{NewLine}{Exception}";

    public static Serilog.Core.Logger Create(string level)
    {
        var config = new LoggerConfiguration()
            .MinimumLevel.Is(ParseLevel(level))
            .Enrich.FromLogContext();
        string? file = Environment.GetEnvironmentVariable("LIVEUPDATEFS_LOG_FILE");
        if (file is not null)
            CreatePrivate(file);
        config = file is null
            ? config.WriteTo.Console(outputTemplate: Template, standardErrorFromLevel: LogEventLevel.Verbose)
            : config.WriteTo.File(file, outputTemplate: Template, flushToDiskInterval: TimeSpan.FromMilliseconds(200));
        return config.CreateLogger();
    }

    /// <summary>The log names sessions and tokens: 0600 like the rest of the store.</summary>
    private static void CreatePrivate(string file)
    {
        if (!File.Exists(file))
            File.Create(file, 0, FileOptions.None).Dispose();
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    private static LogEventLevel ParseLevel(string level) => level.ToLowerInvariant() switch
    {
        "verbose" or "trace" => LogEventLevel.Verbose,
        "debug" => LogEventLevel.Debug,
        "information" or "info" => LogEventLevel.Information,
        "warning" or "warn" => LogEventLevel.Warning,
        "error" => LogEventLevel.Error,
        _ => throw new ArgumentException($"unknown log level '{level}': use verbose, debug, information, warning or error"),
    };
}
