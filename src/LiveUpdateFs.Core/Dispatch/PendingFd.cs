using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Core.Dispatch;

/// <summary>A successful fd-returning command whose fd is not installed yet.</summary>
public abstract class PendingFd(DecodedRequest request)
{
    public DecodedRequest Request { get; } = request;

    /// <summary>The session whose fd is to be installed, if any.</summary>
    public virtual Session? Session => null;

    /// <summary>The file to hand over, if any (RETRIEVE_FD).</summary>
    public virtual IHeldFile? File => null;

    /// <summary>The library installed <paramref name="fd"/>: write the struct back.
    /// On EFAULT the caller closes <paramref name="fd"/> again.</summary>
    public Errno Complete(int fd, ICallerMemory memory)
    {
        LuoStructs.WriteFd(Request.Struct, fd);
        if (Request.WriteBack(memory))
            return Errno.None;
        OnWriteBackFailed();
        return Errno.EFAULT;
    }

    /// <summary>The fd could not be installed at all.</summary>
    public abstract void Abort();

    protected abstract void OnWriteBackFailed();
}
