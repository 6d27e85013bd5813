namespace LiveUpdateFs.Store;

/// <summary>A memfd's size and seals as recorded at preserve (spec §8.2).</summary>
public readonly record struct FileShape(long Size, int Seals);
