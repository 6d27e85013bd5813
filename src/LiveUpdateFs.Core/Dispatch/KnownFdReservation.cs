using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Core.Dispatch;

/// <summary>A reservation answered before the request ran: by the preload
/// library, which reserved a slot itself, or for a trapped call by the
/// caller's fd table (e.g. EMFILE).</summary>
public sealed class KnownFdReservation(Errno reserveResult) : IFdReservation
{
    public Errno Reserve() => reserveResult;
}
