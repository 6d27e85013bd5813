using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Interop;

/// <summary>An ioctl on a node named by its path, with an in/out buffer the
/// node's server reads and writes in place: the commands' way to talk to the
/// daemon through its control node (the envelope protocol).</summary>
public static unsafe class NodeIoctl
{
    /// <summary>Opens <paramref name="path"/> read-only, calls ioctl
    /// <paramref name="request"/> with <paramref name="buffer"/>, and closes it.</summary>
    public static Errno Call(string path, uint request, byte[] buffer)
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
}
