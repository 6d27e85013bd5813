using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Fuse;

/// <summary>
/// A caller's memory whose tail [start, end) was already scanned off the FUSE
/// thread (<see cref="TailScans"/>): reads there are answered from the
/// verdict (zeros up to <paramref name="stopAt"/>, then a non-zero byte or
/// the end of what is readable); every other read goes to the caller.
/// </summary>
internal sealed class ScannedMemory(ICallerMemory caller, ulong start, ulong end, ulong stopAt, bool nonZeroAtStop) : ICallerMemory
{
    public int Read(ulong address, Span<byte> destination)
    {
        if (address < start || address >= end)
            return caller.Read(address, destination);
        ulong zeros = stopAt > address ? stopAt - address : 0;
        int count = (int)Math.Min((ulong)destination.Length, zeros);
        destination[..count].Clear();
        if (count < destination.Length && nonZeroAtStop)
        {
            destination[count] = 1;
            return count + 1;
        }
        return count;
    }

    public bool Write(ulong address, ReadOnlySpan<byte> source) => caller.Write(address, source);
}
