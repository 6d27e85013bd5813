using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Core.Dispatch;

/// <summary>Everything a command needs from the caller.</summary>
public sealed record RequestContext(ICallerMemory Memory, ICallerFiles Files, IFdReservation Reservation);
