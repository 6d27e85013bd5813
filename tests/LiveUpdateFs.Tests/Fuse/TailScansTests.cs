using LiveUpdateFs.Fuse;
using LiveUpdateFs.Tests.Fakes;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Tests.Fuse;

/// <summary>A long zero tail is scanned off the FUSE thread
/// (docs/blocking.md), and decoding against the scan's verdict reaches the
/// errno decoding against the caller's memory reaches.</summary>
public class TailScansTests
{
    private const ulong Arg = 0x1000_0000;
    private const int Tail = 3 << 20; // past TailScans.InPlaceLimit
    private const int Known = 72;

    /// <summary>A loop whose posted work runs at once and counts the replays.</summary>
    private sealed class InlineLoop : IFuseLoop
    {
        public readonly SemaphoreSlim Replays = new(0);

        public FuseRequestCounts Requests { get; } = new();

        public void Post(Action work) => work();

        public void ReplayHeld() => Replays.Release();

        public void Stop()
        {
        }

        public T Exclusive<T>(Func<T> work) => work();
    }

    private static readonly LuoCommandTable Table = new(LuoBehaviour.Reference);

    /// <summary>The struct at Arg declares Known + Tail bytes; the tail is
    /// zero, except a byte set at <paramref name="nonZeroAt"/> (tail offset,
    /// or -1), and mapped up to <paramref name="mappedTail"/> bytes.</summary>
    private static FakeCallerMemory Layout(int nonZeroAt, int mappedTail)
    {
        var memory = new FakeCallerMemory();
        byte[] bytes = new byte[Known + mappedTail];
        BitConverter.GetBytes((uint)(Known + Tail)).CopyTo(bytes, 0);
        if (nonZeroAt >= 0 && nonZeroAt < mappedTail)
            bytes[Known + nonZeroAt] = 7;
        memory.Map(Arg, bytes);
        return memory;
    }

    private static Errno DecodeThroughScan(FakeCallerMemory memory)
    {
        var loop = new InlineLoop();
        var scans = new TailScans(new SlowWork(loop));
        Func<(ulong, ulong)?> tail = () => IoctlDecoder.DeclaredTail(Table, LuoFileKind.Device, LuoRequest.CreateSession, Arg, memory);

        Assert.That(scans.MemoryFor(1, 9, LuoRequest.CreateSession, Arg, memory, tail), Is.Null, "held while the tail is scanned");
        Assert.That(loop.Replays.Wait(TimeSpan.FromSeconds(30)), Is.True, "the held request is handled again after the scan");
        int readsBefore = memory.Reads.Count;
        ICallerMemory scanned = scans.MemoryFor(1, 9, LuoRequest.CreateSession, Arg, memory, tail)!;
        Errno result = IoctlDecoder.Decode(Table, LuoFileKind.Device, LuoRequest.CreateSession, Arg, scanned, out _);
        Assert.That(memory.Reads.Skip(readsBefore).Sum(r => (long)r.Length), Is.LessThan(4096), "the request thread does not read the tail again");
        return result;
    }

    [TestCase(-1, Tail, TestName = "{m}(all zero)")]
    [TestCase(0, Tail, TestName = "{m}(non-zero first byte)")]
    [TestCase(Tail - 1, Tail, TestName = "{m}(non-zero last byte)")]
    [TestCase(2 << 20, Tail, TestName = "{m}(non-zero in the middle)")]
    [TestCase(-1, (2 << 20) + 5, TestName = "{m}(unmapped in the middle)")]
    [TestCase((1 << 20) + 3, (2 << 20) + 5, TestName = "{m}(non-zero before the unmapped part)")]
    [TestCase((2 << 20) + 9, (2 << 20) + 5, TestName = "{m}(non-zero after the unmapped part)")]
    public void The_verdict_gives_the_errno_of_a_scan_in_place(int nonZeroAt, int mappedTail)
    {
        Errno direct = IoctlDecoder.Decode(Table, LuoFileKind.Device, LuoRequest.CreateSession, Arg, Layout(nonZeroAt, mappedTail), out _);
        Assert.That(DecodeThroughScan(Layout(nonZeroAt, mappedTail)), Is.EqualTo(direct));
        Assert.That(direct, Is.EqualTo(nonZeroAt >= 0 && nonZeroAt < mappedTail ? Errno.E2BIG : mappedTail < Tail ? Errno.EFAULT : Errno.None));
    }

    [Test]
    public void A_short_tail_is_checked_in_place()
    {
        var memory = new FakeCallerMemory();
        byte[] bytes = new byte[Known + 4096];
        BitConverter.GetBytes((uint)bytes.Length).CopyTo(bytes, 0);
        memory.Map(Arg, bytes);
        var scans = new TailScans(new SlowWork(new InlineLoop()));
        Assert.That(scans.MemoryFor(1, 9, LuoRequest.CreateSession, Arg, memory,
            () => IoctlDecoder.DeclaredTail(Table, LuoFileKind.Device, LuoRequest.CreateSession, Arg, memory)), Is.SameAs(memory));
    }
}
