using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Core.Dispatch;

/// <summary>
/// How a request can get a new fd into the caller (spec §4.1 step 1 "reserve
/// an fd number"). FUSE cannot do that by itself: the preload library
/// reserves the slot and installs the result; without it there is no way.
/// </summary>
public interface IFdReservation
{
    Errno Reserve();
}

/// <summary>A request that came without the preload library.</summary>
public sealed class NoFdReservation : IFdReservation
{
    public static NoFdReservation Instance { get; } = new();

    /// <summary>EOPNOTSUPP: never a bogus fd number; the log says how to fix it.</summary>
    public Errno Reserve() => Errno.EOPNOTSUPP;
}

/// <summary>A reservation answered before the request ran: by the preload
/// library, which reserved a slot itself, or for a trapped call by the
/// caller's fd table (e.g. EMFILE).</summary>
public sealed class KnownFdReservation(Errno reserveResult) : IFdReservation
{
    public Errno Reserve() => reserveResult;
}

/// <summary>Everything a command needs from the caller.</summary>
public sealed record RequestContext(ICallerMemory Memory, ICallerFiles Files, IFdReservation Reservation);
