namespace LiveUpdateFs.Fuse.Status;

/// <summary>status.json "fuseRequests": the FUSE requests of each operation
/// this boot has answered (<see cref="FuseRequestCounts"/>).</summary>
public sealed record StatusRequests(long Lookup, long Getattr, long Setattr, long Open, long Read, long Write, long Flush, long Release, long Readdir, long Ioctl);
