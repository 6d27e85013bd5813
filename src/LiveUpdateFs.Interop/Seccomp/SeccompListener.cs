using System.Runtime.InteropServices;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Interop.Seccomp;

/// <summary>
/// A seccomp user-notification listener taken from a `liveupdatefs run`
/// process: receives the trapped calls of its process tree and answers
/// them (docs/seccomp.md). One thread uses it at a time.
/// </summary>
public sealed unsafe class SeccompListener : IDisposable
{
    // linux/seccomp.h: SECCOMP_IOC_MAGIC '!'.
    private const ulong NotifRecv = 0xC0502100;   // _IOWR('!', 0, struct seccomp_notif)
    private const ulong NotifSend = 0xC0182101;   // _IOWR('!', 1, struct seccomp_notif_resp)
    private const ulong NotifIdValid = 0x40082102; // _IOW('!', 2, __u64)
    private const ulong NotifAddFd = 0x40182103;  // _IOW('!', 3, struct seccomp_notif_addfd)
    private const uint FlagContinue = 1;          // SECCOMP_USER_NOTIF_FLAG_CONTINUE
    private const string LinkText = "anon_inode:seccomp notify";

    [StructLayout(LayoutKind.Sequential)]
    private struct Notif
    {
        public ulong Id;
        public uint Pid;
        public uint Flags;
        public int Nr;
        public uint Arch;
        public ulong InstructionPointer;
        public fixed ulong Args[6];
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Response
    {
        public ulong Id;
        public long Value;
        public int Error;
        public uint Flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct AddFd
    {
        public ulong Id;
        public uint Flags;
        public uint SourceFd;
        public uint NewFd;
        public uint NewFdFlags;
    }

    private SeccompListener(SafeFd fd) => Fd = fd;

    public SafeFd Fd { get; }

    /// <summary>Adopts <paramref name="fd"/> if it is a seccomp listener;
    /// null (and <paramref name="fd"/> untouched) otherwise.</summary>
    public static SeccompListener? Adopt(SafeFd fd) =>
        ProcFs.ReadLink($"/proc/self/fd/{fd.Fd}") == LinkText ? new SeccompListener(fd) : null;

    /// <summary>The next trapped call. ENOENT: its caller was killed before
    /// it was received (nothing to answer); any other error: the listener is
    /// unusable.</summary>
    public Errno Receive(out SeccompNotification notification)
    {
        Notif notif = default;
        notification = default;
        if (Libc.Ioctl(Fd, NotifRecv, (byte*)&notif) != 0)
            return Libc.LastErrno;
        notification = new SeccompNotification(notif.Id, (int)notif.Pid, notif.Nr, notif.Arch, notif.Args[0], notif.Args[1], notif.Args[2], notif.Args[3]);
        return Errno.None;
    }

    /// <summary>The caller still waits in this notification: its thread id
    /// and memory are still the caller's (checked before acting on anything
    /// read through the id, which a new process could otherwise have by now).</summary>
    public bool IsValid(ulong id)
    {
        ulong cookie = id;
        return Libc.Ioctl(Fd, NotifIdValid, (byte*)&cookie) == 0;
    }

    /// <summary>Installs a copy of <paramref name="file"/> in the caller at
    /// its lowest free fd, close-on-exec (the kernel's get_unused_fd_flags(O_CLOEXEC)).</summary>
    public Errno Install(ulong id, SafeFd file, out int installed)
    {
        var request = new AddFd { Id = id, SourceFd = (uint)file.Fd, NewFdFlags = (uint)Libc.O_CLOEXEC };
        installed = Libc.Ioctl(Fd, NotifAddFd, (byte*)&request);
        return installed < 0 ? Libc.LastErrno : Errno.None;
    }

    /// <summary>The call returns 0, or fails with <paramref name="result"/>.</summary>
    public Errno Answer(ulong id, Errno result) => Send(new Response { Id = id, Error = result.IsError ? -result.Value : 0 });

    /// <summary>The kernel runs the call itself (it was not ours to answer).</summary>
    public Errno Continue(ulong id) => Send(new Response { Id = id, Flags = FlagContinue });

    private Errno Send(Response response) =>
        Libc.Ioctl(Fd, NotifSend, (byte*)&response) == 0 ? Errno.None : Libc.LastErrno;

    private const int SyscallKcmp = 312;
    private const int KcmpFile = 0;

    /// <summary>Both are the same listener (kcmp KCMP_FILE: one open file):
    /// a tree's listener handed over twice is served once.</summary>
    public bool IsSameAs(SeccompListener other)
    {
        int self = Environment.ProcessId;
        return Libc.Syscall(SyscallKcmp, self, self, KcmpFile, Fd.DangerousGetHandle(), other.Fd.DangerousGetHandle()) == 0;
    }

    public void Dispose() => Fd.Dispose();
}
