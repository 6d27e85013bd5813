using System.Runtime.InteropServices;

namespace LiveUpdateFs.Interop;

/// <summary>
/// Every libc call of the daemon and the store, one partial file per area
/// (Libc.Files.cs, Libc.Paths.cs, ...: docs/design.md §1). Callers turn a -1
/// into an <see cref="Uapi.Errno"/> with <see cref="LastErrno"/> at once;
/// nothing here throws.
/// </summary>
internal static partial class Libc
{
    private const string Lib = "libc.so.6";

    /// <summary>The errno of the last import with SetLastError, typed.</summary>
    public static Uapi.Errno LastErrno => new(Marshal.GetLastPInvokeError());
}
