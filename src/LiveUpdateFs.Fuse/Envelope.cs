using System.Buffers.Binary;
using System.Text;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Fuse;

/// <summary>
/// struct lufs_envelope (src/native/lufs-envelope.h): the preload library's
/// completion of fd-returning requests in two steps (PREPARE, then the
/// session node's open or COMMIT). Layout checked by tests.
/// </summary>
public sealed class Envelope
{
    public const uint Request = 0xBAEF;
    public const ulong Magic = 0x4c55464553454e56;
    public const uint Version = 1;
    public const int Size = 128;
    public const int NodeNameLength = 64;
    public const string ControlNode = ".lufs-control";
    public const string SessionNodePrefix = ".lufs-session-";

    public const uint PhasePrepare = 1;
    public const uint PhaseCommit = 2;
    public const uint PhaseQueryFrozen = 3;
    public const uint PhaseFreeze = 4;
    public const uint PhaseRestart = 5;
    public const uint PhaseServeListener = 6;

    /// <summary>FREEZE's request field: how the memfds are handed over.</summary>
    public const ulong FreezeInPlace = 0;
    public const ulong FreezeDurable = 1;

    private const int AnsweredOffset = 8;
    private const int VersionOffset = 16;
    private const int PhaseOffset = 20;
    private const int RequestOffset = 24;
    private const int ArgOffset = 32;
    private const int ReserveErrnoOffset = 40;
    private const int ChannelFdOffset = 44;
    private const int TicketOffset = 48;
    private const int InstalledFdOffset = 56;
    private const int InstallErrnoOffset = 60;
    private const int NodeNameOffset = 64;

    private readonly byte[] _bytes;

    private Envelope(byte[] bytes) => _bytes = bytes;

    /// <summary>The envelope at <paramref name="address"/>, or null when the
    /// memory there is not one (then the request is an ordinary unknown nr).</summary>
    public static Envelope? TryRead(Uapi.ICallerMemory memory, ulong address)
    {
        byte[] bytes = new byte[Size];
        if (memory.Read(address, bytes) != Size)
            return null;
        var envelope = new Envelope(bytes);
        return BinaryPrimitives.ReadUInt64LittleEndian(bytes) == Magic && envelope.U32(VersionOffset) == Version ? envelope : null;
    }

    /// <summary>A FREEZE request as `liveupdatefs reboot` sends it.</summary>
    /// <param name="progressFd">A terminal of the sender for progress lines, or -1.</param>
    /// <param name="durable">Copy the memfds into the store rather than keep them for an in-place restart.</param>
    /// <param name="boot">The boot (status.json's id) the sender means to reboot; 0: whichever serves.</param>
    public static Envelope NewFreeze(int progressFd, bool durable, ulong boot = 0)
    {
        Envelope envelope = New(PhaseFreeze);
        BinaryPrimitives.WriteUInt64LittleEndian(envelope._bytes.AsSpan(ArgOffset), boot);
        BinaryPrimitives.WriteInt32LittleEndian(envelope._bytes.AsSpan(ChannelFdOffset), progressFd);
        BinaryPrimitives.WriteUInt64LittleEndian(envelope._bytes.AsSpan(RequestOffset), durable ? FreezeDurable : FreezeInPlace);
        return envelope;
    }

    /// <summary>SERVE_LISTENER: `liveupdatefs run` hands its seccomp listener (its fd <paramref name="listenerFd"/>) to the daemon.</summary>
    public static Envelope NewServeListener(int listenerFd)
    {
        Envelope envelope = New(PhaseServeListener);
        BinaryPrimitives.WriteInt32LittleEndian(envelope._bytes.AsSpan(ChannelFdOffset), listenerFd);
        return envelope;
    }

    /// <summary>The RESTART request: after the freeze, commit and exec into the next boot.</summary>
    public static Envelope NewRestart() => New(PhaseRestart);

    private static Envelope New(uint phase)
    {
        byte[] bytes = new byte[Size];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(VersionOffset), Version);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(PhaseOffset), phase);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(ChannelFdOffset), -1);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(InstalledFdOffset), -1);
        return new Envelope(bytes);
    }

    /// <summary>The bytes the daemon reads and answers in place.</summary>
    public byte[] Buffer => _bytes;

    /// <summary>A LiveUpdateFs daemon handled it (the result is then the daemon's).</summary>
    public bool Answered => BinaryPrimitives.ReadUInt64LittleEndian(_bytes.AsSpan(AnsweredOffset)) == Magic;

    /// <summary>FREEZE's answer (see <see cref="SetFreezeSummary"/>).</summary>
    public (int Sessions, int Files, long Bytes) FreezeSummary => (InstalledFd, (int)U32(InstallErrnoOffset), (long)Ticket);

    public uint Phase => U32(PhaseOffset);

    /// <summary>The caller's request; the kernel's ioctl takes 32 bits of it.</summary>
    public uint CallerRequest => (uint)BinaryPrimitives.ReadUInt64LittleEndian(_bytes.AsSpan(RequestOffset));

    public ulong CallerArgument => BinaryPrimitives.ReadUInt64LittleEndian(_bytes.AsSpan(ArgOffset));

    public Errno ReserveErrno => new((int)U32(ReserveErrnoOffset));

    public int ChannelFd => (int)U32(ChannelFdOffset);

    public int InstalledFd => (int)U32(InstalledFdOffset);

    public Errno InstallErrno => new((int)U32(InstallErrnoOffset));

    public ulong Ticket
    {
        get => BinaryPrimitives.ReadUInt64LittleEndian(_bytes.AsSpan(TicketOffset));
        set => BinaryPrimitives.WriteUInt64LittleEndian(_bytes.AsSpan(TicketOffset), value);
    }

    /// <summary>FREEZE's answer: sessions in installed_fd, files in install_errno, bytes in ticket.</summary>
    public void SetFreezeSummary(int sessions, int files, long bytes)
    {
        BinaryPrimitives.WriteInt32LittleEndian(_bytes.AsSpan(InstalledFdOffset), sessions);
        BinaryPrimitives.WriteInt32LittleEndian(_bytes.AsSpan(InstallErrnoOffset), files);
        Ticket = (ulong)bytes;
    }

    /// <summary>FREEZE's answer when another reboot owns this boot: "reboot"
    /// in node_name, so the sender can tell that EBUSY from a freeze that failed.</summary>
    public void SetRebootUnderWay() => SetNodeName(RebootUnderWay);

    /// <summary>The answer said another reboot owns the boot (<see cref="SetRebootUnderWay"/>).</summary>
    public bool RebootWasUnderWay => Encoding.ASCII.GetString(_bytes, NodeNameOffset, RebootUnderWay.Length + 1) == RebootUnderWay + "\0";

    private const string RebootUnderWay = "reboot";

    public void SetNodeName(string name)
    {
        Span<byte> field = _bytes.AsSpan(NodeNameOffset, NodeNameLength);
        field.Clear();
        Encoding.ASCII.GetBytes(name, field);
    }

    /// <summary>Marks the envelope answered and writes it back.</summary>
    public bool Answer(Uapi.ICallerMemory memory, ulong address)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(_bytes.AsSpan(AnsweredOffset), Magic);
        return memory.Write(address, _bytes);
    }

    private uint U32(int offset) => BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan(offset));
}
