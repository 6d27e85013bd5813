namespace LiveUpdateFs.Fuse;

/// <summary>Which fuse_reply_* call a <see cref="FuseReply"/> becomes (<see cref="Held"/>: none yet).</summary>
public enum FuseReplyKind
{
    Error,
    Entry,
    Attributes,
    Opened,
    Ioctl,
    Directory,
    Data,
    Held,
}
