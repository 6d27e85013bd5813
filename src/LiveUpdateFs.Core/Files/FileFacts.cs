namespace LiveUpdateFs.Core.Files;

/// <summary>What the daemon learned about a caller's file when it took its
/// own reference (fstat, fstatfs, F_GET_SEALS). For a preserved file these
/// are the values recorded at preserve time (docs/behaviour.md §8.2: size and seals).</summary>
public readonly record struct FileFacts(FileSystemKind FileSystem, bool IsRegular, ulong LinkCount, FileIdentity Identity, long Size,
    int Seals = 0);
