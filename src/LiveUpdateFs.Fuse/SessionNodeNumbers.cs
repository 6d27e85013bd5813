namespace LiveUpdateFs.Fuse;

/// <summary>
/// The numbers of the per-session nodes (<c>.lufs-session-N</c>, inode
/// <see cref="LuoNodes.SessionBase"/> + N). A number is in use from the
/// PREPARE that reserves it until its hand-over is undone or the session
/// file opened on it is released; then the next session takes it again
/// (last freed, first taken). So the names stay few, and the kernel's
/// cached entry for a name (cached for the daemon's life: docs/fuse.md §8)
/// serves later sessions without a LOOKUP. While a number is in use, every
/// open file on its node is the one session's, so the node names the
/// session in /proc/PID/fd (`status` finds the holders by it) and its inode
/// names it for a trapped call. FUSE thread only.
/// </summary>
internal sealed class SessionNodeNumbers
{
    private readonly List<bool> _inUse = [];
    private readonly Stack<uint> _free = new();

    public uint Take()
    {
        if (_free.TryPop(out uint number))
        {
            _inUse[(int)number] = true;
            return number;
        }
        _inUse.Add(true);
        return (uint)(_inUse.Count - 1);
    }

    public void Free(uint number)
    {
        if (!InUse(number))
            return;
        _inUse[(int)number] = false;
        _free.Push(number);
    }

    public bool InUse(ulong number) => number < (ulong)_inUse.Count && _inUse[(int)number];
}
