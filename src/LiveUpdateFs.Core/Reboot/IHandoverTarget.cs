using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Core.Reboot;

/// <summary>Where reboots write their images (the persistence store).</summary>
public interface IHandoverTarget
{
    /// <summary>A new, empty image for a reboot in <paramref name="mode"/>;
    /// <paramref name="progress"/> hears about large copies;
    /// <paramref name="requester"/> is the process that asked (never held
    /// still), null for a stop of the daemon. An error (logged by the target)
    /// when the store cannot take one.</summary>
    Errno NewImage(RebootMode mode, int? requester, TextWriter? progress, out IHandoverImage? image);
}
