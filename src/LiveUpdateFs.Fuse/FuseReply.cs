using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Fuse;

/// <summary>
/// What a handler answers. The callback layer turns it into exactly one
/// fuse_reply_* call, so no code path can reply twice or not at all.
/// </summary>
public readonly struct FuseReply
{
    private FuseReply(FuseReplyKind kind, Errno error = default, NodeAttributes attributes = default,
        ulong handle = 0, IReadOnlyList<(string Name, NodeAttributes Attributes)>? entries = null, byte[]? data = null, bool lasting = false,
        int ioctlValue = 0)
    {
        Kind = kind;
        Lasting = lasting;
        IoctlValue = ioctlValue;
        Error = error;
        Attributes = attributes;
        Handle = handle;
        Entries = entries;
        Data = data;
    }

    public FuseReplyKind Kind { get; }
    public Errno Error { get; }
    public NodeAttributes Attributes { get; }
    public ulong Handle { get; }
    public IReadOnlyList<(string Name, NodeAttributes Attributes)>? Entries { get; }
    public byte[]? Data { get; }

    /// <summary>An entry or attributes that stay as they are while the daemon
    /// serves: the kernel may keep them for the daemon's life instead of
    /// asking again (docs/fuse.md §8).</summary>
    public bool Lasting { get; }

    /// <summary>What a successful ioctl returns to its caller.</summary>
    public int IoctlValue { get; }

    /// <summary>An error reply. FUSE turns ENOSYS into ENOTTY for ioctl and
    /// hangs the caller for errno >= 512, so both are refused here.</summary>
    public static FuseReply Fail(Errno error)
    {
        if (error.Value is <= 0 or >= 512 || error == Errno.ENOSYS)
            throw new ArgumentOutOfRangeException(nameof(error), error, "not an errno FUSE can deliver");
        return new FuseReply(FuseReplyKind.Error, error);
    }

    /// <summary>Success for requests that carry no data (flush, release).</summary>
    public static FuseReply Ok => new(FuseReplyKind.Error, Errno.None);

    /// <param name="lasting">See <see cref="Lasting"/>; otherwise every lookup and stat reaches the daemon.</param>
    public static FuseReply Entry(NodeAttributes attributes, bool lasting = false) => new(FuseReplyKind.Entry, attributes: attributes, lasting: lasting);

    /// <param name="lasting">See <see cref="Lasting"/>.</param>
    public static FuseReply Attr(NodeAttributes attributes, bool lasting = false) => new(FuseReplyKind.Attributes, attributes: attributes, lasting: lasting);

    /// <summary>An open file: <paramref name="handle"/> comes back with every request on it.</summary>
    public static FuseReply Opened(ulong handle) => new(FuseReplyKind.Opened, handle: handle);

    public static FuseReply IoctlDone => new(FuseReplyKind.Ioctl);

    /// <summary>A successful ioctl whose call returns <paramref name="value"/> (not negative).</summary>
    public static FuseReply IoctlReturns(int value) => new(FuseReplyKind.Ioctl, ioctlValue: value);

    public static FuseReply Directory(IReadOnlyList<(string Name, NodeAttributes Attributes)> entries) =>
        new(FuseReplyKind.Directory, entries: entries);

    public static FuseReply Bytes(byte[] data) => new(FuseReplyKind.Data, data: data);

    /// <summary>No answer now: the caller waits, as a kernel caller blocks on
    /// the frozen LUO after a reboot serialization (docs/behaviour.md §7). The server
    /// answers held requests with ENOTCONN when it shuts down, so each still
    /// gets exactly one reply.</summary>
    public static FuseReply Hold => new(FuseReplyKind.Held);
}
