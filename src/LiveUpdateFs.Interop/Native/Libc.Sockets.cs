using System.Runtime.InteropServices;

namespace LiveUpdateFs.Interop;

/// <summary>Unix sockets: a connected pair, the socket's domain, and sendmsg
/// with SCM_RIGHTS (<see cref="UnixRights"/>).</summary>
internal static unsafe partial class Libc
{
    public const int AF_UNIX = 1;
    public const int SOCK_STREAM = 1;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int SOL_SOCKET = 1;
    public const int SO_DOMAIN = 39;
    public const int SCM_RIGHTS = 1;
    public const int MSG_DONTWAIT = 0x40;
    public const int MSG_NOSIGNAL = 0x4000;

    /// <summary>struct msghdr.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct MsgHdr
    {
        public void* Name;
        public uint NameLength;
        public void* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    /// <summary>A struct cmsghdr carrying one fd, padded to CMSG_SPACE(sizeof(int)).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct CmsgWithFd
    {
        public nuint Length;
        public int Level;
        public int Type;
        public int Fd;
        private int _pad;
    }

    [LibraryImport(Lib, EntryPoint = "socketpair", SetLastError = true)]
    public static partial int SocketPair(int domain, int type, int protocol, int* fds);

    [LibraryImport(Lib, EntryPoint = "getsockopt", SetLastError = true)]
    public static partial int GetSockOpt(SafeFd socket, int level, int name, int* value, uint* length);

    [LibraryImport(Lib, EntryPoint = "sendmsg", SetLastError = true)]
    public static partial nint SendMsg(SafeFd socket, MsgHdr* message, int flags);
}
