namespace LiveUpdateFs.Uapi;

/// <summary>
/// The memory of the process that made a request, as the kernel's
/// copy_from_user/copy_to_user see it.
/// </summary>
public interface ICallerMemory
{
    /// <summary>Reads up to destination.Length bytes at <paramref name="address"/>;
    /// returns how many could be read before the first fault (a short count
    /// means the next byte is not readable).</summary>
    int Read(ulong address, Span<byte> destination);

    /// <summary>Writes all of <paramref name="source"/>; false on any fault.</summary>
    bool Write(ulong address, ReadOnlySpan<byte> source);
}
