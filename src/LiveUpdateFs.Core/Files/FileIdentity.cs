namespace LiveUpdateFs.Core.Files;

/// <summary>The identity LUO keys its global preserved-file table by: for a
/// memfd, its inode.</summary>
public readonly record struct FileIdentity(ulong Device, ulong Inode);
