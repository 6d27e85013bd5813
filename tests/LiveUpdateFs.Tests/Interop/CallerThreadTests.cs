using System.Runtime.InteropServices;
using LiveUpdateFs.Interop;

namespace LiveUpdateFs.Tests.Interop;

/// <summary>A small read of a caller's memory fetches the rest of its line
/// (within its page) once; later small reads there answer from that copy
/// until a write, and nothing else changes.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed unsafe class CallerThreadTests
{
    private const int Page = 4096;

    [Test]
    public void Reads_give_the_callers_bytes_at_any_size_and_across_a_page_boundary()
    {
        byte* memory = (byte*)NativeMemory.AlignedAlloc(2 * Page, Page);
        try
        {
            for (int i = 0; i < 2 * Page; i++)
                memory[i] = (byte)(i * 7);
            using var caller = new CallerThread(Environment.ProcessId);
            foreach ((int offset, int length) in new[] { (0, 4), (0, 72), (4, 68), (Page - 40, 72), (Page - 4, 4), (100, 300), (Page - 2, 2) })
            {
                byte[] read = new byte[length];
                Assert.That(caller.Read((ulong)memory + (ulong)offset, read), Is.EqualTo(length), $"{length} at {offset}");
                Assert.That(read, Is.EqualTo(new ReadOnlySpan<byte>(memory + offset, length).ToArray()), $"{length} at {offset}");
            }
        }
        finally
        {
            NativeMemory.AlignedFree(memory);
        }
    }

    [Test]
    public void A_second_small_read_is_the_first_ones_snapshot_until_a_write()
    {
        byte* memory = (byte*)NativeMemory.AlignedAlloc(Page, Page);
        try
        {
            new Span<byte>(memory, Page).Fill(1);
            using var caller = new CallerThread(Environment.ProcessId);
            byte[] sizeWord = new byte[4];
            caller.Read((ulong)memory, sizeWord);

            memory[8] = 2; // changed between the size word and the struct: one moment is seen, as one copy could see it
            byte[] known = new byte[72];
            caller.Read((ulong)memory, known);
            Assert.That(known[8], Is.EqualTo(1));

            Assert.That(caller.Write((ulong)memory + 16, [3]), Is.True);
            caller.Read((ulong)memory, known);
            Assert.That((known[8], known[16]), Is.EqualTo(((byte)2, (byte)3)), "a write ends the snapshot");
        }
        finally
        {
            NativeMemory.AlignedFree(memory);
        }
    }
}
