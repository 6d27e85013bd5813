using LiveUpdateFs.Interop.Seccomp;

namespace LiveUpdateFs.Fuse.Trapped;

/// <summary>A listener the daemon serves, and who handed it over: the
/// daemon acts for the callers of that user only (docs/seccomp.md §5).</summary>
/// <param name="Uid">The uid of the `run` process that registered it.</param>
/// <param name="Pid">Its pid (for the log).</param>
internal sealed record TrapOwner(SeccompListener Listener, uint Uid, int Pid)
{
    /// <summary>A call of another user's process was refused and logged (once per listener).</summary>
    public bool RefusalLogged { get; set; }
}
