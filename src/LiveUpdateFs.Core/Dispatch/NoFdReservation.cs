using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Core.Dispatch;

/// <summary>A request that came without the preload library.</summary>
public sealed class NoFdReservation : IFdReservation
{
    public static NoFdReservation Instance { get; } = new();

    /// <summary>EOPNOTSUPP: never a bogus fd number; the log says how to fix it.</summary>
    public Errno Reserve() => Errno.EOPNOTSUPP;
}
