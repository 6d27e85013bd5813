using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Fuse.Callers;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Store.Handover;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Host.Daemon;

/// <summary>The store's hand-over sees the daemon's held files through
/// <see cref="IHeldFiles"/>; they are Fuse's <see cref="HeldFile"/>, the type
/// the fd hand-over gives back to callers, so a restored memfd must be one too.</summary>
public sealed class FuseHeldFiles : IHeldFiles
{
    public SafeFd? DescriptorOf(IHeldFile file) => (file as HeldFile)?.Fd;

    public Errno Hold(SafeFd memfd, out IHeldFile? file)
    {
        file = null;
        Errno described = HeldFile.Describe(memfd, out FileFacts facts);
        if (described.IsError)
        {
            memfd.Dispose();
            return described;
        }
        file = new HeldFile(memfd, facts);
        return Errno.None;
    }
}
