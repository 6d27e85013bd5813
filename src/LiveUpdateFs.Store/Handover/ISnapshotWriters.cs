using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Store.Handover;

/// <summary>
/// The processes that can write the preserved memfds, held still while a
/// durable image copies them, so that the copy is one instant as the kernel's
/// hand-over is (<see cref="StoreImage"/>). Finding them needs the emulator's
/// mount and node names, which the store does not know: the daemon host
/// passes the implementation in.
/// </summary>
public interface ISnapshotWriters
{
    /// <summary>Stops every process that can write <paramref name="memfds"/>
    /// (the daemon's fds of the outgoing preserved files), but this daemon and
    /// <paramref name="requester"/>; EBUSY, with everyone resumed, when that
    /// cannot be done in time.</summary>
    Errno Stop(IReadOnlyList<SafeFd> memfds, int? requester);

    /// <summary>Once the copy is complete: all but the holders of emulator fds
    /// run on (the reboot's command ends those, as a kexec ends every process).</summary>
    void ResumeAllButHolders();

    /// <summary>Continues every process still stopped (<paramref name="why"/> goes to the log).</summary>
    void ResumeAll(string why);
}
