using System.Diagnostics;

namespace LiveUpdateFs.Tests.Integration;

public sealed record ProcessResult(int ExitCode, string Output, bool TimedOut);

/// <summary>Runs a program to completion with a time limit, output captured.</summary>
public static class ProcessRunner
{
    public static ProcessResult Run(string program, IEnumerable<string> arguments, IDictionary<string, string?>? environment = null,
        TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        foreach ((string key, string? value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
                start.Environment.Remove(key);
            else
                start.Environment[key] = value;
        }
        using var process = Process.Start(start)!;
        var output = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        bool finished = process.WaitForExit(timeout ?? TimeSpan.FromMinutes(5));
        if (!finished)
            process.Kill(entireProcessTree: true);
        process.WaitForExit();
        lock (output)
            return new ProcessResult(finished ? process.ExitCode : -1, output.ToString(), !finished);
    }
}
