using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Tests.Store;

/// <summary>Real memfds for the store tests, built and read through the Interop layer.</summary>
internal static class MemfdHelpers
{
    public const int F_SEAL_SEAL = 0x1;
    public const int F_SEAL_SHRINK = 0x2;
    public const int F_SEAL_GROW = 0x4;
    public const int F_SEAL_WRITE = 0x8;

    public static SafeFd Create(long size, params (long Offset, byte[] Data)[] islands)
    {
        var (error, fd) = MemfdOps.Create();
        Assert.That(error, Is.EqualTo(Errno.None));
        Assert.That(MemfdOps.Truncate(fd!, size), Is.EqualTo(Errno.None));
        foreach (var (offset, data) in islands)
            Assert.That(FileOps.WriteAll(fd!, data, offset), Is.EqualTo(Errno.None));
        return fd!;
    }

    public static byte[] Read(SafeFd fd, long offset, int length)
    {
        var buffer = new byte[length];
        var (error, read) = FileOps.ReadFull(fd, buffer, offset);
        Assert.That(error, Is.EqualTo(Errno.None));
        return buffer[..read];
    }

    public static KernelStat Stat(SafeFd fd)
    {
        var (error, stat) = MemfdOps.Stat(fd);
        Assert.That(error, Is.EqualTo(Errno.None));
        return stat;
    }

    public static int Seals(SafeFd fd)
    {
        var (error, seals) = MemfdOps.GetSeals(fd);
        Assert.That(error, Is.EqualTo(Errno.None));
        return seals;
    }

    /// <summary>The file position, as the kernel reports it in /proc/self/fdinfo.</summary>
    public static long Position(SafeFd fd)
    {
        string line = File.ReadLines($"/proc/self/fdinfo/{fd.Fd}").First(l => l.StartsWith("pos:", StringComparison.Ordinal));
        return long.Parse(line["pos:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public static byte[] Pattern(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
