using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Fuse;

/// <summary>
/// The zero-tail check of long structs (spec: copy_struct_from_user), run by
/// <see cref="SlowWork"/>: a caller may declare a struct of up to 4 GiB, and reading
/// that much of its memory on the FUSE thread would stall every other
/// caller for seconds (docs/blocking.md). The request is held meanwhile; when
/// the scan is done the FUSE thread handles it again and decodes it against
/// <see cref="ScannedMemory"/>, which answers the tail from the scan's
/// verdict, so the decoder reaches the errno it would have reached itself
/// (E2BIG at a non-zero byte, EFAULT at an unreadable one). A caller thread
/// has at most one request in flight, so scans are keyed by its thread id.
/// </summary>
internal sealed class TailScans(SlowWork worker)
{
    /// <summary>Tails up to this long are checked in place: about 50 us of reading.</summary>
    public const ulong InPlaceLimit = 1 << 20;

    private readonly Dictionary<int, Scan> _scans = [];

    /// <summary>One scan: what it is for, and its verdict once done.</summary>
    private sealed class Scan(ulong handle, uint request, ulong argument, ulong start, ulong length)
    {
        public bool Matches(ulong h, uint r, ulong a) => h == handle && r == request && a == argument;
        public ulong Start { get; } = start;
        public ulong Length { get; } = length;

        /// <summary>Set by the worker: where the zeros end (Start + Length: all zero).</summary>
        public ulong StopAt { get; set; }
        public bool NonZeroAtStop { get; set; }
        public volatile bool Done;

        public void Run(ICallerMemory memory)
        {
            (StopAt, NonZeroAtStop) = FirstNonZero(memory, Start, Length);
            Done = true;
        }
    }

    /// <summary>
    /// The memory to decode the request with: <paramref name="memory"/> itself
    /// when no long tail needs checking, a <see cref="ScannedMemory"/> when a
    /// scan for this very request is done, or null: hold the request (a scan
    /// runs; the loop handles it again when it ends). FUSE thread only.
    /// </summary>
    public ICallerMemory? MemoryFor(int threadId, ulong handle, uint request, ulong argument, ICallerMemory memory,
        Func<(ulong Start, ulong Length)?> declaredTail)
    {
        if (_scans.TryGetValue(threadId, out Scan? scan))
        {
            if (!scan.Matches(handle, request, argument))
                _scans.Remove(threadId); // left by a request answered otherwise (the daemon stopping)
            else if (!scan.Done)
                return null;
            else
            {
                _scans.Remove(threadId);
                return new ScannedMemory(memory, scan.Start, scan.Start + scan.Length, scan.StopAt, scan.NonZeroAtStop);
            }
        }
        if (declaredTail() is not { } tail || tail.Length <= InPlaceLimit)
            return memory;
        var started = new Scan(handle, request, argument, tail.Start, tail.Length);
        _scans[threadId] = started;
        worker.Run(() => started.Run(memory));
        return null;
    }

    /// <summary>Where the tail stops being readable zeros, and whether it stops at a non-zero byte.</summary>
    public static (ulong StopAt, bool NonZero) FirstNonZero(ICallerMemory memory, ulong start, ulong length)
    {
        ulong end = start + length;
        if (end < start || end > IoctlDecoder.UserAddressLimit)
            return (start, false);
        byte[] chunk = new byte[1 << 20];
        for (ulong at = start; at < end;)
        {
            int want = (int)Math.Min(end - at, (ulong)chunk.Length);
            int got = memory.Read(at, chunk.AsSpan(0, want));
            int nonZero = chunk.AsSpan(0, got).IndexOfAnyExcept((byte)0);
            if (nonZero >= 0)
                return (at + (ulong)nonZero, true);
            if (got < want)
                return (at + (ulong)got, false);
            at += (ulong)got;
        }
        return (end, false);
    }
}
