using System.Runtime.InteropServices;

namespace LiveUpdateFs.Interop;

/// <summary>Waiting for fds: poll(2), and eventfds to wake a poll from another thread.</summary>
internal static unsafe partial class Libc
{
    public const uint EFD_NONBLOCK = 0x800;
    public const uint EFD_CLOEXEC = 0x80000;
    public const short POLLIN = 0x1;
    public const short POLLERR = 0x8;
    public const short POLLHUP = 0x10;
    public const short POLLNVAL = 0x20;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport(Lib, EntryPoint = "eventfd", SetLastError = true)]
    public static partial int Eventfd(uint initial, uint flags);

    [LibraryImport(Lib, EntryPoint = "poll", SetLastError = true)]
    public static partial int Poll(PollFd* fds, nuint count, int timeoutMs);
}
