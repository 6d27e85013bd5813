namespace LiveUpdateFs.Host.Daemon;

/// <summary>One daemon per store: an exclusive lock on STORE/lock for the daemon's life.</summary>
public sealed class StoreLock : IDisposable
{
    private readonly FileStream _lock;

    private StoreLock(FileStream lockFile) => _lock = lockFile;

    /// <summary>How long a start waits for the lock of a daemon that is still
    /// exiting (one just killed closes its files a moment after its mount went away).</summary>
    private static readonly TimeSpan DyingOwnerGrace = TimeSpan.FromSeconds(2);

    public static StoreLock Acquire(string store)
    {
        Directory.CreateDirectory(store, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.SetUnixFileMode(store, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            try
            {
                // FileShare.None takes an exclusive flock() on Unix.
                return new StoreLock(new FileStream(Path.Combine(store, "lock"), new FileStreamOptions
                {
                    Mode = FileMode.OpenOrCreate,
                    Access = FileAccess.ReadWrite,
                    Share = FileShare.None,
                    UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                }));
            }
            catch (IOException) when (clock.Elapsed < DyingOwnerGrace)
            {
                Thread.Sleep(20);
            }
            catch (IOException)
            {
                throw new InvalidOperationException($"the store {store} is locked by another liveupdatefs daemon: stop that one first, or give this one its own --store");
            }
        }
    }

    public void Dispose() => _lock.Dispose();
}
