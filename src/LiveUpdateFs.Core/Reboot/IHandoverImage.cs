using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Core.Reboot;

/// <summary>
/// Where a reboot writes the outgoing state (docs/behaviour.md §7 step 1): the stand-in for
/// the session and file records the kernel fills in at serialization. Nothing
/// is visible to the next boot before <see cref="Publish"/>.
/// </summary>
public interface IHandoverImage
{
    /// <summary>Before the first session: every file about to be frozen (a
    /// durable image holds their writers still, so that its copy is one
    /// instant). An error ends the freeze; the image is then aborted.</summary>
    Errno Begin(IReadOnlyList<PreservedFile> files);

    /// <summary>Starts a session record; the files added next belong to it.</summary>
    void AddSession(SessionName name);

    /// <summary>The handler's freeze plus the record of one file: contents,
    /// the size and seals recorded at preserve, the position now.</summary>
    Errno AddFile(PreservedFile file);

    /// <summary>Completes the image (durable, but not yet what the next boot
    /// sees): the end of the freeze.</summary>
    Errno Prepare();

    /// <summary>After <see cref="Prepare"/>: makes the image the one the next
    /// boot sees, whole (the commit, at the restart).</summary>
    Errno Publish();

    /// <summary>Drops what was written; the last published image stays. A no-op after a publish.</summary>
    void Abort();
}
