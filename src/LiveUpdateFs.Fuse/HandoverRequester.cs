using LiveUpdateFs.Interop;

namespace LiveUpdateFs.Fuse;

/// <summary>A thread that sent PREPARE (<see cref="FdHandover"/>), pinned by
/// one pidfd (the daemon's own entry: its process), with the tickets it has
/// not taken yet.</summary>
internal sealed class HandoverRequester(ProcessPin pin, uint uid)
{
    public ProcessPin Pin { get; } = pin;
    public uint Uid { get; } = uid;
    public HashSet<ulong> Tickets { get; } = [];
    public long ExitWatch { get; set; }

    /// <summary>Its place among the idle entries while it has no tickets (<see cref="HandoverRequesters"/>).</summary>
    public LinkedListNode<HandoverRequester>? Idle { get; set; }
}
