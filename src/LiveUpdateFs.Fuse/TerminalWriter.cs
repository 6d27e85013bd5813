using System.Text;
using LiveUpdateFs.Interop;
using Microsoft.Win32.SafeHandles;

namespace LiveUpdateFs.Fuse;

/// <summary>Text to another process's terminal (an fd the daemon took with
/// pidfd_getfd): the reboot command's progress display.</summary>
internal static class TerminalWriter
{
    public static TextWriter Over(SafeFd terminal)
    {
        // The SafeFd stays the owner; the stream only borrows the descriptor.
        var handle = new SafeFileHandle(terminal.DangerousGetHandle(), ownsHandle: false);
        var stream = new FileStream(handle, FileAccess.Write, bufferSize: 0);
        return new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true };
    }
}
