using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Fuse;

/// <summary>
/// The short forms of a session's hand-over (src/native/lufs-envelope.h
/// LUFS_PREPARE_SESSION, LUFS_ABORT_SESSION), which the library sends on a
/// mount whose daemon has answered an envelope before: the request value
/// itself carries what the envelope would (nr: which request or the abort;
/// the size bits: the reserved fd number + 1 or the errno, never 0;
/// direction none, so FUSE copies nothing), and the ioctl's return value
/// answers. No envelope is read or written: one process_vm_readv and one
/// process_vm_writev fewer per CREATE_SESSION. Only a thread that has sent
/// an envelope PREPARE before is served so (<see cref="FdHandover.Knows"/>);
/// for any other these values are unknown nrs (EINVAL), as on the kernel.
/// </summary>
internal static class ShortHandover
{
    private const uint PrepareCreateNr = 0xE0;
    private const uint PrepareRetrieveNr = 0xE1;
    private const uint AbortNr = 0xE2;
    private const int SizeShift = 16;
    private const uint SizeMask = 0x3FFF;
    private const uint TypeAndDirection = 0xC000FF00; // _IOC_DIRMASK and _IOC_TYPEMASK

    /// <summary>LUFS_PREPARE_SESSION: the LUO request it stands for and the
    /// fd number the library reserved.</summary>
    public static bool IsPrepare(uint request, out uint luoRequest, out int reservedFd)
    {
        uint nr = LuoRequest.Nr(request);
        luoRequest = nr == PrepareCreateNr ? LuoRequest.CreateSession : LuoRequest.RetrieveSession;
        reservedFd = (int)Size(request) - 1;
        return IsOurs(request) && nr is PrepareCreateNr or PrepareRetrieveNr;
    }

    /// <summary>LUFS_ABORT_SESSION: the errno the library's open of the node met.</summary>
    public static bool IsAbort(uint request, out Errno failed)
    {
        failed = new Errno((int)Size(request));
        return IsOurs(request) && LuoRequest.Nr(request) == AbortNr;
    }

    /// <summary>_IOC(_IOC_NONE, 0xBA, nr, size) with a size: a plain _IO of
    /// these nrs (size 0) is left to the kernel's answer, EINVAL.</summary>
    private static bool IsOurs(uint request) => (request & TypeAndDirection) == LuoRequest.IoctlType << 8 && Size(request) != 0;

    private static uint Size(uint request) => (request >> SizeShift) & SizeMask;
}
