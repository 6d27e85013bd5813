using Serilog;

namespace LiveUpdateFs.Host.Daemon;

/// <summary>The directory the daemon mounts on.</summary>
public static class MountpointDirectory
{
    /// <summary>Creates the mountpoint, and clears a mount left by a daemon
    /// that died (its directory then fails with ENOTCONN).</summary>
    public static void Prepare(string mountpoint, ILogger log)
    {
        try
        {
            Directory.CreateDirectory(mountpoint);
            _ = Directory.GetFileSystemEntries(mountpoint);
        }
        catch (IOException ex)
        {
            log.Warning("The mountpoint {Mountpoint} holds a dead mount ({Error}); detaching it", mountpoint, ex.Message);
            LazyUnmount.Detach(mountpoint);
            Directory.CreateDirectory(mountpoint);
        }
    }
}
