using System.Runtime.InteropServices;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Interop;

/// <summary>Sends an open file over a unix socket (SCM_RIGHTS): the receiver
/// gets the same open file description.</summary>
public static unsafe partial class UnixRights
{
    private const int SolSocket = 1;
    private const int ScmRights = 1;
    private const int MsgNoSignal = 0x4000;
    private const int MsgDontWait = 0x40;
    private const int SoDomain = 39;
    private const int AfUnix = 1;

    [StructLayout(LayoutKind.Sequential)]
    private struct MsgHdr
    {
        public void* Name;
        public uint NameLength;
        public void* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct CmsgWithFd
    {
        public nuint Length;
        public int Level;
        public int Type;
        public int Fd;
        private int _pad;
    }

    [LibraryImport("libc.so.6", EntryPoint = "sendmsg", SetLastError = true)]
    private static partial nint SendMsg(SafeFd socket, MsgHdr* message, int flags);

    [LibraryImport("libc.so.6", EntryPoint = "getsockopt", SetLastError = true)]
    private static partial int GetSockOpt(SafeFd socket, int level, int name, int* value, uint* length);

    [LibraryImport("libc.so.6", EntryPoint = "socketpair", SetLastError = true)]
    private static partial int SocketPair(int domain, int type, int protocol, int* fds);

    private const int SockStream = 1;
    private const int SockCloexec = 0x80000;

    /// <summary>A connected pair of unix stream sockets, both close-on-exec.</summary>
    public static Errno Pair(out SafeFd? first, out SafeFd? second)
    {
        int* fds = stackalloc int[2];
        first = second = null;
        if (SocketPair(AfUnix, SockStream | SockCloexec, 0, fds) != 0)
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
        if (GetSockOpt(fd, SolSocket, SoDomain, &domain, &length) != 0)
            return Libc.LastErrno;
        return domain == AfUnix ? Errno.None : Errno.ENOTSOCK;
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
            var control = new CmsgWithFd { Length = (nuint)(16 + sizeof(int)), Level = SolSocket, Type = ScmRights, Fd = file.Fd };
            var message = new MsgHdr { Iov = &iov, IovLength = 1, Control = &control, ControlLength = (nuint)sizeof(CmsgWithFd) };
            return SendMsg(socket, &message, MsgNoSignal | MsgDontWait) == 1 ? Errno.None : Libc.LastErrno;
        }
        finally
        {
            if (added)
                file.DangerousRelease();
        }
    }
}
