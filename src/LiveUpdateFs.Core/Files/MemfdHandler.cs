using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Core.Files;

/// <summary>memfd_luo (docs/behaviour.md §8.1): shmem files without links, i.e. memfds
/// (not hugetlb), O_TMPFILE tmpfs files and unlinked tmpfs files.</summary>
public sealed class MemfdHandler : IFileHandler
{
    public string Compatible => "memfd-v2";

    public bool CanPreserve(in FileFacts facts) =>
        facts.FileSystem == FileSystemKind.Tmpfs && facts.IsRegular && facts.LinkCount == 0;

    /// <summary>[v7.1+] files with more than UINT_MAX pages are refused (docs/behaviour.md §8.2).</summary>
    public const long MaxSize = (long)uint.MaxValue * 4096;

    // The page pinning and KHO registration of the kernel have no userspace
    // counterpart: the daemon's reference keeps the pages alive. The frozen
    // size is enforced through the orchestrator's preserved-file table.
    public Errno Preserve(IHeldFile file) => file.Facts.Size > MaxSize ? Errno.EFBIG : Errno.None;

    public void Unpreserve(IHeldFile file)
    {
    }
}
