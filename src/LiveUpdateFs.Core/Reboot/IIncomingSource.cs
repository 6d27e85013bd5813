using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Core.Reboot;

/// <summary>Reads what the previous boot handed over (docs/behaviour.md §3: at the first
/// open of the device).</summary>
public interface IIncomingSource
{
    /// <summary>An error makes that open and every later one fail with EIO.</summary>
    Errno Load(out IReadOnlyList<IncomingSessionImage> sessions);

    /// <summary>
    /// Records, durably, that what <see cref="Load"/> returned was handed over
    /// to this boot: called once the sessions passed every check, before the
    /// open that loaded them succeeds. A kernel hands its sessions to one boot
    /// only; after a crash of that boot the next one must not see them again.
    /// An error fails that open with EIO and records nothing: the next open
    /// loads and tries again.
    /// </summary>
    Errno MarkConsumed();
}
