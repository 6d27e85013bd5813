namespace LiveUpdateFs.Core.Reboot;

/// <summary>How a reboot hands the preserved memfds over.</summary>
public enum RebootMode
{
    /// <summary>Zero-copy, the way the kernel keeps pages in place: the memfds
    /// stay open across an exec of the daemon into the next boot. Lives only
    /// as long as the daemon process, like memory across a kexec.</summary>
    InPlace,

    /// <summary>Copied into the store and fsynced: survives the daemon's death.</summary>
    Durable,
}
