namespace LiveUpdateFs.Uapi;

/// <summary>A request that passed the generic decoding steps: the command and
/// the kernel's copy of the caller's struct.</summary>
public sealed class DecodedRequest(LuoCommand command, ulong argument, uint userSize, byte[] kernelCopy)
{
    public LuoCommand Command { get; } = command;
    public ulong Argument { get; } = argument;
    public uint UserSize { get; } = userSize;

    /// <summary>The kernel's buffer: <see cref="LuoCommand.KnownSize"/> bytes
    /// copied in, zero-padded to the command's struct size.</summary>
    public byte[] Struct { get; } = kernelCopy;

    /// <summary>luo_ucmd_respond: copies min(user size, struct size) bytes back.</summary>
    public bool WriteBack(ICallerMemory memory) =>
        memory.Write(Argument, Struct.AsSpan(0, (int)Math.Min(UserSize, (uint)Command.StructSize)));
}
