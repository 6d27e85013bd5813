using Serilog;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace LiveUpdateFs.Host.Daemon;

/// <summary>Serilog set-up: one line per event with the request's context
/// properties (caller pid, request); human text or one JSON object per line.</summary>
public static class Logging
{
    private const string Template = "{Timestamp:yyyy-MM-dd HH:mm:ss.fff} [{Level:u3}] {Message:lj} {Properties}{NewLine}{Exception}";

    public static Serilog.Core.Logger Create(LogSettings settings)
    {
        var config = new LoggerConfiguration()
            .MinimumLevel.Is(ParseLevel(settings.Level))
            .Enrich.FromLogContext();
        bool json = settings.Format switch
        {
            "text" => false,
            "json" => true,
            _ => throw new ArgumentException($"unknown log format '{settings.Format}': use text or json"),
        };
        if (settings.File is { } file)
        {
            CreatePrivate(file);
            config = json
                ? config.WriteTo.File(new RenderedCompactJsonFormatter(), file, flushToDiskInterval: TimeSpan.FromMilliseconds(200))
                : config.WriteTo.File(file, outputTemplate: Template, flushToDiskInterval: TimeSpan.FromMilliseconds(200));
        }
        else
        {
            config = json
                ? config.WriteTo.Console(new RenderedCompactJsonFormatter(), standardErrorFromLevel: LogEventLevel.Verbose)
                : config.WriteTo.Console(outputTemplate: Template, standardErrorFromLevel: LogEventLevel.Verbose);
        }
        return config.CreateLogger();
    }

    /// <summary>The log names sessions and tokens: 0600 like the rest of the store.</summary>
    private static void CreatePrivate(string file)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        if (!System.IO.File.Exists(file))
            System.IO.File.Create(file, 0, FileOptions.None).Dispose();
        System.IO.File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    public static LogEventLevel ParseLevel(string level) => level.ToLowerInvariant() switch
    {
        "verbose" or "trace" => LogEventLevel.Verbose,
        "debug" => LogEventLevel.Debug,
        "information" or "info" => LogEventLevel.Information,
        "warning" or "warn" => LogEventLevel.Warning,
        "error" => LogEventLevel.Error,
        _ => throw new ArgumentException($"unknown log level '{level}': use verbose, debug, information, warning or error"),
    };
}
