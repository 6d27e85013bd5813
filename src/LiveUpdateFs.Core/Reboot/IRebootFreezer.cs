using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Core.Reboot;

/// <summary>Runs the reboot serialization (spec §7 step 1), for the reboot
/// command and for SIGTERM.</summary>
public interface IRebootFreezer
{
    /// <param name="requester">The process that asked for the reboot (never
    /// stopped for a durable snapshot); null for a stop of the daemon.</param>
    /// <param name="progress">A terminal to show the progress of large files on, or null.</param>
    Errno FreezeForReboot(RebootMode mode, int? requester, TextWriter? progress, out HandoverSummary summary);

    /// <summary>After an in-place freeze: end this boot and start the next
    /// one in this process (EINVAL when no in-place freeze is pending).</summary>
    Errno RestartInPlace();
}
