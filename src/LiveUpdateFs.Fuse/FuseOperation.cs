namespace LiveUpdateFs.Fuse;

/// <summary>The FUSE requests the daemon answers (<see cref="IFuseFileSystem"/>), named as FUSE names them.</summary>
public enum FuseOperation
{
    Lookup,
    Getattr,
    Setattr,
    Open,
    Read,
    Write,
    Flush,
    Release,
    Readdir,
    Ioctl,
}
