namespace LiveUpdateFs.Fuse;

/// <summary>
/// The requests the daemon serves. Every method answers with one
/// <see cref="FuseReply"/>; unlisted requests get libfuse's ENOSYS.
/// </summary>
public interface IFuseFileSystem
{
    FuseReply Lookup(FuseCaller caller, ulong parent, string name);

    FuseReply GetAttributes(FuseCaller caller, ulong inode);

    FuseReply SetAttributes(FuseCaller caller, ulong inode);

    FuseReply Open(FuseCaller caller, ulong inode, int flags);

    FuseReply Read(FuseCaller caller, ulong inode, ulong handle, long offset, int size);

    FuseReply Write(FuseCaller caller, ulong inode, ulong handle);

    FuseReply Flush(FuseCaller caller, ulong inode, ulong handle);

    /// <summary>The last reference to an open file is gone (FUSE sends no caller).</summary>
    FuseReply Release(ulong inode, ulong handle);

    FuseReply ReadDirectory(FuseCaller caller, ulong inode);

    /// <param name="compat">FUSE_IOCTL_COMPAT: the caller is a 32-bit process.</param>
    FuseReply Ioctl(FuseCaller caller, ulong inode, ulong handle, uint request, ulong argument, bool compat);
}
