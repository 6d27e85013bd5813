using LiveUpdateFs.Core.Reboot;
using LiveUpdateFs.Interop;

namespace LiveUpdateFs.Fuse.Callers;

/// <summary>The process that froze this boot, as Core's reboot state machine
/// holds it: pinned by a pidfd (<see cref="ProcessPin"/>), so that neither its
/// death nor a newcomer with its pid goes unnoticed. Owns the pin.</summary>
public sealed class PinnedRebootClient(ProcessPin pin) : IRebootClient
{
    public int Pid => pin.Pid;

    public bool HasExited => pin.HasExited;

    public void Dispose() => pin.Dispose();
}
