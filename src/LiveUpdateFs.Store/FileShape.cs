namespace LiveUpdateFs.Store;

/// <summary>A memfd's size and seals as recorded at preserve (docs/behaviour.md §8.2).</summary>
public readonly record struct FileShape(long Size, int Seals);
