using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Tests.Fakes;

/// <summary>
/// A sparse caller address space: mapped regions backed by byte arrays,
/// optionally read-only; every other address is unmapped. Reads stop at the
/// first unmapped byte; a write fails as a whole if any byte is unmapped or
/// read-only. Every access is recorded.
/// </summary>
public sealed class FakeCallerMemory : ICallerMemory
{
    private readonly List<Region> _regions = [];

    private sealed record Region(ulong Start, byte[] Bytes, bool ReadOnly)
    {
        public ulong End => Start + (ulong)Bytes.Length;
        public bool Contains(ulong address) => address >= Start && address < End;
    }

    public sealed record Access(ulong Address, int Length);

    public sealed record WriteAccess(ulong Address, byte[] Data);

    /// <summary>Every Read call, with the length asked for.</summary>
    public List<Access> Reads { get; } = [];

    /// <summary>Every successful Write call, with the bytes written.</summary>
    public List<WriteAccess> Writes { get; } = [];

    /// <summary>Write calls that faulted.</summary>
    public int FailedWrites { get; private set; }

    /// <summary>Maps <paramref name="bytes"/> at <paramref name="address"/> (the
    /// array is used, not copied, so tests can inspect it afterwards).</summary>
    public byte[] Map(ulong address, byte[] bytes, bool readOnly = false)
    {
        var region = new Region(address, bytes, readOnly);
        if (_regions.Any(r => r.Start < region.End && address < r.End))
            throw new ArgumentException($"region at 0x{address:x} overlaps a mapped one");
        _regions.Add(region);
        return bytes;
    }

    public int Read(ulong address, Span<byte> destination)
    {
        Reads.Add(new Access(address, destination.Length));
        int done = 0;
        while (done < destination.Length && FindRegion(address + (ulong)done) is { } region)
        {
            ulong at = address + (ulong)done;
            int offset = (int)(at - region.Start);
            int count = Math.Min(destination.Length - done, region.Bytes.Length - offset);
            region.Bytes.AsSpan(offset, count).CopyTo(destination[done..]);
            done += count;
        }
        return done;
    }

    public bool Write(ulong address, ReadOnlySpan<byte> source)
    {
        if (!IsWritable(address, source.Length))
        {
            FailedWrites++;
            return false;
        }
        for (int done = 0; done < source.Length;)
        {
            Region region = FindRegion(address + (ulong)done)!;
            int offset = (int)(address + (ulong)done - region.Start);
            int count = Math.Min(source.Length - done, region.Bytes.Length - offset);
            source.Slice(done, count).CopyTo(region.Bytes.AsSpan(offset));
            done += count;
        }
        Writes.Add(new WriteAccess(address, source.ToArray()));
        return true;
    }

    private bool IsWritable(ulong address, int length)
    {
        for (int done = 0; done < length;)
        {
            if (FindRegion(address + (ulong)done) is not { ReadOnly: false } region)
                return false;
            done += (int)Math.Min((ulong)(length - done), region.End - (address + (ulong)done));
        }
        return true;
    }

    private Region? FindRegion(ulong address) => _regions.Find(r => r.Contains(address));
}
