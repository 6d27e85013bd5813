using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Core.Reboot;

/// <summary>
/// Where a reboot writes the outgoing state (spec §7 step 1): the stand-in for
/// the session and file records the kernel fills in at serialization. Nothing
/// is visible to the next boot before <see cref="Commit"/>.
/// </summary>
public interface IHandoverImage
{
    /// <summary>Starts a session record; the files added next belong to it.</summary>
    void AddSession(SessionName name);

    /// <summary>The handler's freeze plus the record of one file: contents,
    /// the size and seals recorded at preserve, the position now.</summary>
    Errno AddFile(PreservedFile file);

    /// <summary>Publishes the image: the next boot sees it whole.</summary>
    Errno Commit();

    /// <summary>Drops what was written; the last committed image stays.</summary>
    void Abort();
}

/// <summary>What a successful freeze handed over.</summary>
public readonly record struct HandoverSummary(int Sessions, int Files, long Bytes);

/// <summary>A session handed over by the previous boot, as read back.</summary>
public sealed record IncomingSessionImage(SessionName Name, IReadOnlyList<IncomingFileImage> Files);

/// <summary>One file of an incoming session: its token, the compatible
/// string of the handler that preserved it, and where its contents wait.</summary>
public sealed record IncomingFileImage(ulong Token, string Compatible, IRestorableFile Source);

/// <summary>Reads what the previous boot handed over (spec §3: at the first
/// open of the device).</summary>
public interface IIncomingSource
{
    /// <summary>An error makes that open and every later one fail with EIO.</summary>
    Errno Load(out IReadOnlyList<IncomingSessionImage> sessions);
}

/// <summary>A cold boot: nothing was handed over.</summary>
public sealed class NoIncomingSessions : IIncomingSource
{
    public static readonly NoIncomingSessions Instance = new();

    public Errno Load(out IReadOnlyList<IncomingSessionImage> sessions)
    {
        sessions = [];
        return Errno.None;
    }
}

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

/// <summary>Runs the reboot serialization (spec §7 step 1), for the reboot
/// command and for SIGTERM.</summary>
public interface IRebootFreezer
{
    /// <param name="progress">A terminal to show the progress of large files on, or null.</param>
    Errno FreezeForReboot(RebootMode mode, TextWriter? progress, out HandoverSummary summary);

    /// <summary>After an in-place freeze: end this boot and start the next
    /// one in this process (EINVAL when no in-place freeze is pending).</summary>
    Errno RestartInPlace();
}
