using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Interop;

/// <summary>Sends an open file over a unix socket (SCM_RIGHTS): the receiver
/// gets the same open file description.</summary>
public static unsafe class UnixRights
{
    /// <summary>A connected pair of unix stream sockets, both close-on-exec.</summary>
    public static Errno Pair(out SafeFd? first, out SafeFd? second)
    {
        int* fds = stackalloc int[2];
        first = second = null;
        if (Libc.SocketPair(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0, fds) != 0)
            return Libc.LastErrno;
        first = new SafeFd(fds[0]);
        second = new SafeFd(fds[1]);
        return Errno.None;
    }

    /// <summary>Is <paramref name="fd"/> a unix socket? Asked of the socket
    /// layer only (no I/O): anything else is ENOTSOCK.</summary>
    public static Errno CheckUnixSocket(SafeFd fd)
    {
        int domain = 0;
        uint length = sizeof(int);
        if (Libc.GetSockOpt(fd, Libc.SOL_SOCKET, Libc.SO_DOMAIN, &domain, &length) != 0)
            return Libc.LastErrno;
        return domain == Libc.AF_UNIX ? Errno.None : Errno.ENOTSOCK;
    }

    /// <summary>Sends without waiting (docs/blocking.md): a socket whose
    /// queue is full gives EAGAIN at once instead of stalling the sender.</summary>
    public static Errno Send(SafeFd socket, SafeFd file)
    {
        bool added = false;
        file.DangerousAddRef(ref added);
        try
        {
            byte payload = (byte)'F';
            var iov = new Libc.IoVec { Base = &payload, Length = 1 };
            var control = new Libc.CmsgWithFd { Length = (nuint)(16 + sizeof(int)), Level = Libc.SOL_SOCKET, Type = Libc.SCM_RIGHTS, Fd = file.Fd };
            var message = new Libc.MsgHdr { Iov = &iov, IovLength = 1, Control = &control, ControlLength = (nuint)sizeof(Libc.CmsgWithFd) };
            return Libc.SendMsg(socket, &message, Libc.MSG_NOSIGNAL | Libc.MSG_DONTWAIT) == 1 ? Errno.None : Libc.LastErrno;
        }
        finally
        {
            if (added)
                file.DangerousRelease();
        }
    }
}
