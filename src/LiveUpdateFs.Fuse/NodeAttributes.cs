namespace LiveUpdateFs.Fuse;

/// <summary>The attributes of one node, as FUSE reports them.</summary>
public readonly record struct NodeAttributes(ulong Inode, uint Mode, ulong LinkCount = 1, long Size = 0, uint Uid = 0, uint Gid = 0);
