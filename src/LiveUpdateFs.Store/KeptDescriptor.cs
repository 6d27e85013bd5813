namespace LiveUpdateFs.Store;

/// <summary>
/// Where a file of an in-place generation lives: not in the store but in an
/// fd the daemon keeps open across its exec into the next boot. Device and
/// inode let the next instance check that the fd it inherited is that file.
/// </summary>
public readonly record struct KeptDescriptor(int Fd, ulong Device, ulong Inode);
