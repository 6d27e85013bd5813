using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Store.Handover;

/// <summary>
/// The daemon's held files as the hand-over sees them: the fd behind a
/// preserved file (copied or kept by <see cref="StoreImage"/>), and a held
/// file for a memfd the store restored (<see cref="StoredIncomingSessions"/>).
/// Their type belongs to the layer that takes files from callers and hands
/// fds back to them (Fuse), which the store does not reference
/// (docs/design.md §1); the daemon host passes the implementation in.
/// </summary>
public interface IHeldFiles
{
    /// <summary>The fd the daemon holds <paramref name="file"/> by; null for a file it holds no fd of.</summary>
    SafeFd? DescriptorOf(IHeldFile file);

    /// <summary>A held file of <paramref name="memfd"/>, which it then owns;
    /// on an error (the memfd cannot be described) the memfd is closed.</summary>
    Errno Hold(SafeFd memfd, out IHeldFile? file);
}
