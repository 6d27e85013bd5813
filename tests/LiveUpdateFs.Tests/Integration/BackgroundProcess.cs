using System.Diagnostics;

namespace LiveUpdateFs.Tests.Integration;

/// <summary>A program started in the background with its output captured,
/// for the tests that act while it runs (a reboot client that hangs after
/// its freeze, a caller held by a frozen boot). Every wait is bounded.</summary>
public sealed class BackgroundProcess : IDisposable
{
    private static readonly TimeSpan OutputDrainTimeout = TimeSpan.FromSeconds(10);

    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly SemaphoreSlim _lineArrived = new(0);
    private readonly CountdownEvent _streamsOpen = new(2);

    private BackgroundProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => Add(e.Data);
        _process.ErrorDataReceived += (_, e) => Add(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Pid => _process.Id;

    public static BackgroundProcess Start(string program, IEnumerable<string> arguments, IDictionary<string, string?> environment)
    {
        var start = new ProcessStartInfo(program) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        foreach ((string key, string? value) in environment)
        {
            if (value is null)
                start.Environment.Remove(key);
            else
                start.Environment[key] = value;
        }
        return new BackgroundProcess(Process.Start(start)!);
    }

    public bool HasExited => _process.HasExited;

    /// <summary>It sleeps in the kernel waiting for a FUSE request's answer (/proc/PID/wchan:
    /// request_wait_answer, or another fuse_ function on kernels that inline it).</summary>
    public bool WaitsForAFuseAnswer
    {
        get
        {
            try
            {
                string channel = File.ReadAllText($"/proc/{Pid}/wchan");
                return channel == "request_wait_answer" || channel.StartsWith("fuse_", StringComparison.Ordinal);
            }
            catch (IOException)
            {
                return false;
            }
        }
    }

    /// <summary>Waits until it printed <paramref name="line"/> (true), exited or the time is up (false).</summary>
    public bool WaitForLine(string line, TimeSpan timeout) => WaitForLine(l => l == line, timeout);

    /// <summary>Waits until it printed a line that <paramref name="matches"/> (true), exited or the time is up (false).</summary>
    public bool WaitForLine(Func<string, bool> matches, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (Printed(matches))
                return true;
            if (_process.HasExited)
            {
                _streamsOpen.Wait(OutputDrainTimeout); // the last lines
                return Printed(matches);
            }
            TimeSpan left = timeout - clock.Elapsed;
            if (left <= TimeSpan.Zero)
                return false;
            _lineArrived.Wait(left < TimeSpan.FromMilliseconds(100) ? left : TimeSpan.FromMilliseconds(100));
        }
    }

    private bool Printed(Func<string, bool> matches)
    {
        lock (_lines)
            return _lines.Any(matches);
    }

    /// <summary>Waits up to <paramref name="timeout"/> for the exit, without killing it.</summary>
    public bool Exits(TimeSpan timeout) => _process.WaitForExit(timeout);

    /// <summary>Waits for the exit; a process still running at the timeout is killed and reported as timed out.</summary>
    public ProcessResult WaitForExit(TimeSpan timeout)
    {
        bool finished = _process.WaitForExit(timeout);
        if (!finished)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(OutputDrainTimeout);
        }
        // The output to its end (a timed WaitForExit does not wait for it), bounded: a child it left
        // (a daemon it started) may keep the pipes open.
        _streamsOpen.Wait(OutputDrainTimeout);
        return new ProcessResult(finished ? _process.ExitCode : -1, Output, !finished);
    }

    public string Output
    {
        get
        {
            lock (_lines)
                return string.Join('\n', _lines);
        }
    }

    public void Kill() => LiveUpdateFs.Interop.Signals.Kill(Pid);

    public void Dispose()
    {
        if (!_process.HasExited)
            _process.Kill(entireProcessTree: true);
        // The events stay undisposed: the output handlers may still run on another thread.
        _process.Dispose();
    }

    private void Add(string? line)
    {
        if (line is null)
        {
            _streamsOpen.Signal(); // the end of stdout or of stderr
            return;
        }
        lock (_lines)
            _lines.Add(line);
        _lineArrived.Release();
    }
}
