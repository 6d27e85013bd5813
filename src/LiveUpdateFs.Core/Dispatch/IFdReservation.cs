using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Core.Dispatch;

/// <summary>
/// How a request can get a new fd into the caller (docs/behaviour.md §4.1 step 1 "reserve
/// an fd number"). FUSE cannot do that by itself: the preload library
/// reserves the slot and installs the result; without it there is no way.
/// </summary>
public interface IFdReservation
{
    Errno Reserve();
}
