namespace LiveUpdateFs.Fuse;

/// <summary>The thread that made a FUSE request (FUSE reports thread ids).</summary>
public readonly record struct FuseCaller(int ThreadId, uint Uid, uint Gid);
