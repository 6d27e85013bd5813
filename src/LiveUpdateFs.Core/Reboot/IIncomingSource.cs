using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Core.Reboot;

/// <summary>Reads what the previous boot handed over (spec §3: at the first
/// open of the device).</summary>
public interface IIncomingSource
{
    /// <summary>An error makes that open and every later one fail with EIO.</summary>
    Errno Load(out IReadOnlyList<IncomingSessionImage> sessions);
}
