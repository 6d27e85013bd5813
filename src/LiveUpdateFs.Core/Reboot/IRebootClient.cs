namespace LiveUpdateFs.Core.Reboot;

/// <summary>The process that froze this boot (`liveupdatefs reboot`), held so
/// that neither its death nor a newcomer with its pid goes unnoticed.</summary>
public interface IRebootClient : IDisposable
{
    int Pid { get; }

    /// <summary>It has ended: the reboot it started will never be completed.</summary>
    bool HasExited { get; }
}
