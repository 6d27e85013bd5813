using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Interop;

/// <summary>ioctl on a node of the emulator's mount with an in/out buffer the
/// daemon reads and writes in place (the envelope protocol).</summary>
public static unsafe class ControlNode
{
    public static Errno Ioctl(string path, uint request, byte[] buffer)
    {
        var fd = new SafeFd(Libc.Open(path, Libc.O_RDONLY | Libc.O_CLOEXEC, 0));
        using (fd)
        {
            if (fd.IsInvalid)
                return Libc.LastErrno;
            fixed (byte* argument = buffer)
                return Libc.Ioctl(fd, request, argument) < 0 ? Libc.LastErrno : Errno.None;
        }
    }

    /// <summary>Whether <paramref name="fd"/> of this process is a terminal.</summary>
    public static bool IsTerminal(int fd) => Libc.Isatty(fd) == 1;
}
