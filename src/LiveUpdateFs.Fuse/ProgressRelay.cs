using System.Collections.Concurrent;
using System.Text;
using LiveUpdateFs.Interop;
using Microsoft.Win32.SafeHandles;

namespace LiveUpdateFs.Fuse;

/// <summary>
/// Progress text for the reboot command's terminal (an fd the daemon took
/// with pidfd_getfd), written by a thread of its own: a terminal stopped
/// with Ctrl-S, or any fd a caller passes instead, may block a write
/// forever, and the FUSE thread must never wait on it (docs/blocking.md).
/// Text that finds the queue full is dropped; the relay owns the fd and
/// closes it (off the FUSE thread too) after the last line.
/// </summary>
internal sealed class ProgressRelay : TextWriter
{
    private const int QueueLimit = 256;

    private readonly BlockingCollection<string> _queue = new(QueueLimit);

    private ProgressRelay(SafeFd terminal)
    {
        var thread = new Thread(() => Relay(terminal)) { IsBackground = true, Name = "progress-relay" };
        thread.Start();
    }

    public override Encoding Encoding => Encoding.UTF8;

    /// <summary>A relay to <paramref name="terminal"/> (owned from now on), or
    /// null when no thread can be started (then the fd is closed off the thread).</summary>
    public static ProgressRelay? Over(SafeFd terminal)
    {
        try
        {
            return new ProgressRelay(terminal);
        }
        catch (OutOfMemoryException)
        {
            DeferredClose.Close(terminal);
            return null;
        }
    }

    public override void Write(char value) => Write(value.ToString());

    public override void Write(string? value)
    {
        if (!string.IsNullOrEmpty(value))
            _queue.TryAdd(value);
    }

    public override void WriteLine(string? value) => Write(value + NewLine);

    public override void WriteLine() => Write(NewLine);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            _queue.CompleteAdding();
        base.Dispose(disposing);
    }

    private void Relay(SafeFd terminal)
    {
        // The SafeFd stays the owner; the stream only borrows the descriptor.
        using (var stream = new FileStream(new SafeFileHandle(terminal.DangerousGetHandle(), ownsHandle: false), FileAccess.Write, bufferSize: 0))
        {
            bool broken = false;
            foreach (string text in _queue.GetConsumingEnumerable())
            {
                try
                {
                    if (!broken)
                        stream.Write(Encoding.UTF8.GetBytes(text));
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException)
                {
                    broken = true; // the terminal went away: the rest has no reader
                }
            }
        }
        terminal.Dispose();
    }
}
