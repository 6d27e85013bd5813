namespace LiveUpdateFs.Uapi;

/// <summary>
/// A Linux errno carried as a value from where it arises to the FUSE reply.
/// <see cref="None"/> (0) means success.
/// </summary>
public readonly record struct Errno(int Value)
{
    public static readonly Errno None = new(0);
    public static readonly Errno EPERM = new(1);
    public static readonly Errno ENOENT = new(2);
    public static readonly Errno ESRCH = new(3);
    public static readonly Errno EINTR = new(4);
    public static readonly Errno EIO = new(5);
    public static readonly Errno ENXIO = new(6);
    public static readonly Errno E2BIG = new(7);
    public static readonly Errno EBADF = new(9);
    public static readonly Errno EAGAIN = new(11);
    public static readonly Errno ENOMEM = new(12);
    public static readonly Errno EACCES = new(13);
    public static readonly Errno EFAULT = new(14);
    public static readonly Errno EBUSY = new(16);
    public static readonly Errno EEXIST = new(17);
    public static readonly Errno EXDEV = new(18);
    public static readonly Errno ENODEV = new(19);
    public static readonly Errno ENOTDIR = new(20);
    public static readonly Errno EISDIR = new(21);
    public static readonly Errno EINVAL = new(22);
    public static readonly Errno EMFILE = new(24);
    public static readonly Errno ENOTTY = new(25);
    public static readonly Errno EFBIG = new(27);
    public static readonly Errno ENOSPC = new(28);
    public static readonly Errno ESPIPE = new(29);
    public static readonly Errno ENOSYS = new(38);
    public static readonly Errno ENOTSOCK = new(88);
    public static readonly Errno EOPNOTSUPP = new(95);
    public static readonly Errno ECONNABORTED = new(103);
    public static readonly Errno ENOTCONN = new(107);
    public static readonly Errno ESTALE = new(116);

    public bool IsError => Value != 0;

    /// <summary>The symbolic name, for logs ("EINVAL"), or the number.</summary>
    public string Name => Value switch
    {
        0 => "OK",
        1 => "EPERM",
        2 => "ENOENT",
        3 => "ESRCH",
        4 => "EINTR",
        5 => "EIO",
        6 => "ENXIO",
        7 => "E2BIG",
        9 => "EBADF",
        11 => "EAGAIN",
        12 => "ENOMEM",
        13 => "EACCES",
        14 => "EFAULT",
        16 => "EBUSY",
        17 => "EEXIST",
        18 => "EXDEV",
        19 => "ENODEV",
        20 => "ENOTDIR",
        21 => "EISDIR",
        22 => "EINVAL",
        23 => "ENFILE",
        24 => "EMFILE",
        25 => "ENOTTY",
        27 => "EFBIG",
        28 => "ENOSPC",
        29 => "ESPIPE",
        38 => "ENOSYS",
        88 => "ENOTSOCK",
        95 => "EOPNOTSUPP",
        103 => "ECONNABORTED",
        107 => "ENOTCONN",
        116 => "ESTALE",
        _ => $"errno {Value}",
    };

    public override string ToString() => Name;
}
