using System.Runtime.InteropServices;

namespace LiveUpdateFs.Interop;

/// <summary>An owned file descriptor; closed exactly once.</summary>
public sealed class SafeFd : SafeHandle
{
    public SafeFd() : base(-1, ownsHandle: true)
    {
    }

    public SafeFd(int fd) : base(-1, ownsHandle: true) => SetHandle(fd);

    public int Fd => (int)handle;

    public override bool IsInvalid => handle < 0;

    protected override bool ReleaseHandle() => Libc.Close((int)handle) == 0;
}
