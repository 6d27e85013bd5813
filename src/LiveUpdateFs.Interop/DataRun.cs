namespace LiveUpdateFs.Interop;

/// <summary>A contiguous run of data in a sparse file: everything outside runs is a hole.</summary>
public readonly record struct DataRun(long Offset, long Length)
{
    public long End => Offset + Length;
}
