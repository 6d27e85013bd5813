using System.Runtime.InteropServices;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Interop.Seccomp;

/// <summary>
/// The filter `liveupdatefs run` installs on itself before it execs the
/// program (docs/seccomp.md): the three fd-returning LUO requests, and
/// unless <c>fdRequestsOnly</c> the calls whose kernel answer on LUO files or
/// preserved memfds a FUSE file cannot give (FIONREAD, FIOQSIZE, ftruncate,
/// fallocate), go to the listener; every other call runs untouched. The
/// filter and its listener are inherited by every child and survive exec.
/// </summary>
public static unsafe class SeccompFilter
{
    private const int SeccompSetModeFilter = 1;
    private const uint FlagNewListener = 1 << 3;
    private const uint FlagWaitKillableRecv = 1 << 5;
    private const uint ReturnAllow = 0x7fff0000;
    private const uint ReturnUserNotif = 0x7fc00000;
    private const int SyscallSeccomp = 317;
    private const int PrSetNoNewPrivs = 38;

    // BPF opcodes (linux/bpf_common.h).
    private const ushort LoadWordAbsolute = 0x20; // BPF_LD | BPF_W | BPF_ABS
    private const ushort JumpIfEqual = 0x15;      // BPF_JMP | BPF_JEQ | BPF_K
    private const ushort Return = 0x06;           // BPF_RET | BPF_K

    // struct seccomp_data offsets.
    private const uint OffsetNr = 0;
    private const uint OffsetArch = 4;
    private const uint OffsetArg1Low = 16 + 8; // little endian: the low word of args[1]

    public const uint Fionread = 0x541B;
    public const uint Fioqsize = 0x5460;

    [StructLayout(LayoutKind.Sequential)]
    private struct SockFilter
    {
        public ushort Code;
        public byte JumpTrue;
        public byte JumpFalse;
        public uint K;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct SockFprog
    {
        public ushort Length;
        public SockFilter* Filter;
    }

    /// <summary>The ioctl requests the filter traps: the fd-returning LUO
    /// requests (CREATE_SESSION, RETRIEVE_SESSION, RETRIEVE_FD), and the
    /// VFS-answered ones when exact.</summary>
    public static uint[] TrappedIoctls(bool fdRequestsOnly) =>
        fdRequestsOnly ? [LuoRequest.CreateSession, LuoRequest.RetrieveSession, LuoRequest.RetrieveFd]
            : [LuoRequest.CreateSession, LuoRequest.RetrieveSession, LuoRequest.RetrieveFd, Fionread, Fioqsize];

    /// <summary>Installs the filter on the calling thread (it must be the one
    /// that execs) and returns its listener. EBUSY: this process is already
    /// under a filter with a listener. Without CAP_SYS_ADMIN the kernel
    /// requires no_new_privs, which is set then (setuid programs in the tree
    /// run without their privileges, as under any unprivileged seccomp filter).</summary>
    public static Errno Install(bool fdRequestsOnly, out SafeFd? listener)
    {
        listener = null;
        SockFilter[] program = Program(fdRequestsOnly);
        fixed (SockFilter* instructions = program)
        {
            var prog = new SockFprog { Length = (ushort)program.Length, Filter = instructions };
            int fd = InstallProgram(&prog, FlagNewListener | FlagWaitKillableRecv, out Errno error);
            // WAIT_KILLABLE_RECV (5.19): once the daemon has a call, signals
            // other than SIGKILL no longer interrupt it; older kernels: without.
            if (fd < 0 && error == Errno.EINVAL)
                fd = InstallProgram(&prog, FlagNewListener, out error);
            if (fd < 0 && error == Errno.EACCES && Libc.Prctl(PrSetNoNewPrivs, 1, 0, 0, 0) == 0)
                fd = InstallProgram(&prog, FlagNewListener | FlagWaitKillableRecv, out error);
            if (fd < 0 && error == Errno.EINVAL)
                fd = InstallProgram(&prog, FlagNewListener, out error);
            if (fd < 0)
                return error;
            listener = new SafeFd(fd);
            return Errno.None;
        }
    }

    private static int InstallProgram(SockFprog* prog, uint flags, out Errno error)
    {
        int fd = (int)Libc.Syscall(SyscallSeccomp, SeccompSetModeFilter, flags, (nint)prog);
        error = fd < 0 ? Libc.LastErrno : Errno.None;
        return fd;
    }

    /// <summary>
    /// arch != x86_64 → allow; ioctl with a trapped request → notify;
    /// ftruncate/fallocate (when exact) → notify; anything else → allow.
    /// </summary>
    private static SockFilter[] Program(bool fdRequestsOnly)
    {
        uint[] ioctls = TrappedIoctls(fdRequestsOnly);
        int[] otherCalls = fdRequestsOnly ? [] : [SeccompNotification.SyscallFtruncate, SeccompNotification.SyscallFallocate];
        var code = new List<SockFilter>();
        // Jumps are relative to the next instruction; the two returns are the
        // last two instructions: [allow, notify].
        int total = 3 + 2 + ioctls.Length + 1 + otherCalls.Length + 2;
        int allowAt = total - 2, notifyAt = total - 1;
        byte To(int target) => (byte)(target - code.Count - 1);

        code.Add(Load(OffsetArch));
        code.Add(new SockFilter { Code = JumpIfEqual, K = SeccompNotification.ArchitectureX8664, JumpTrue = 0, JumpFalse = To(allowAt) });
        code.Add(Load(OffsetNr));
        int otherAt = 3 + 2 + ioctls.Length + 1;
        code.Add(new SockFilter { Code = JumpIfEqual, K = SeccompNotification.SyscallIoctl, JumpTrue = 0, JumpFalse = To(otherAt) });
        code.Add(Load(OffsetArg1Low));
        foreach (uint request in ioctls)
            code.Add(new SockFilter { Code = JumpIfEqual, K = request, JumpTrue = To(notifyAt), JumpFalse = 0 });
        code.Add(new SockFilter { Code = Return, K = ReturnAllow });
        // otherAt: the accumulator still holds the syscall number.
        foreach (int call in otherCalls)
            code.Add(new SockFilter { Code = JumpIfEqual, K = (uint)call, JumpTrue = To(notifyAt), JumpFalse = 0 });
        code.Add(new SockFilter { Code = Return, K = ReturnAllow });
        code.Add(new SockFilter { Code = Return, K = ReturnUserNotif });
        if (code.Count != total)
            throw new InvalidOperationException("seccomp filter layout");
        return [.. code];
    }

    private static SockFilter Load(uint offset) => new() { Code = LoadWordAbsolute, K = offset };
}
