using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Fuse.Trapped;
using LiveUpdateFs.Interop.Seccomp;

namespace LiveUpdateFs.Tests.Fuse;

/// <summary>Which trapped calls the daemon answers itself (docs/seccomp.md).</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class TrapRulesTests
{
    private static SeccompNotification Ftruncate(long length) =>
        new(1, 1, SeccompNotification.SyscallFtruncate, SeccompNotification.ArchitectureX8664, 3, (ulong)length, 0, 0);

    private static SeccompNotification Fallocate(int mode, long offset, long length) =>
        new(1, 1, SeccompNotification.SyscallFallocate, SeccompNotification.ArchitectureX8664, 3, (ulong)(uint)mode, (ulong)offset, (ulong)length);

    private static readonly FileFacts Memfd = new(FileSystemKind.Tmpfs, IsRegular: true, LinkCount: 0, new FileIdentity(1, 2), Size: 4096);

    [Test]
    [Description("docs/behaviour.md §8.2: calls the kernel refuses on their arguments first are left to it, as the library's wrappers do")]
    public void Argument_errors_come_from_the_kernel_before_the_frozen_size()
    {
        Assert.Multiple(() =>
        {
            Assert.That(SizeRule.MayChange(Ftruncate(-1)), Is.False, "EINVAL");
            Assert.That(SizeRule.MayChange(Ftruncate(0)), Is.True);
            Assert.That(SizeRule.MayChange(Fallocate(0, -1, 10)), Is.False, "negative offset: EINVAL");
            Assert.That(SizeRule.MayChange(Fallocate(0, 0, 0)), Is.False, "empty range: EINVAL");
            Assert.That(SizeRule.MayChange(Fallocate(0, long.MaxValue, 2)), Is.False, "offset overflow: EFBIG");
            Assert.That(SizeRule.MayChange(Fallocate(2, 0, 10)), Is.False, "PUNCH_HOLE without KEEP_SIZE: EOPNOTSUPP");
            Assert.That(SizeRule.MayChange(Fallocate(0x10, 0, 10)), Is.False, "a mode tmpfs does not support: EOPNOTSUPP");
            Assert.That(SizeRule.MayChange(Fallocate(3, 0, 10)), Is.True, "punch a hole, keep the size");
            Assert.That(SizeRule.MayChange(Fallocate(0, 0, 10)), Is.True);
        });
    }

    [Test]
    public void Only_unlinked_tmpfs_files_can_be_frozen_and_a_truncate_to_the_same_size_is_no_change()
    {
        Assert.Multiple(() =>
        {
            Assert.That(SizeRule.Applies(Ftruncate(8192), Memfd), Is.True);
            Assert.That(SizeRule.Applies(Ftruncate(4096), Memfd), Is.False, "same size: allowed by the kernel");
            Assert.That(SizeRule.Applies(Fallocate(0, 0, 10), Memfd), Is.True);
            Assert.That(SizeRule.Applies(Ftruncate(8192), Memfd with { LinkCount = 1 }), Is.False, "a linked tmpfs file cannot be preserved");
            Assert.That(SizeRule.Applies(Ftruncate(8192), Memfd with { FileSystem = FileSystemKind.Other }), Is.False);
        });
    }

    [Test]
    [Description("docs/seccomp.md \"Who is served\": a listener handed over by a user serves that user's processes only; root's serves all")]
    public void A_listener_serves_the_processes_of_the_user_who_handed_it_over()
    {
        int self = Environment.ProcessId; // the test runs as root
        Assert.Multiple(() =>
        {
            Assert.That(TrappedCalls.Serves(new TrapOwner(null!, 0, 1), self), Is.True, "root's listener");
            Assert.That(TrappedCalls.Serves(new TrapOwner(null!, 65534, 1), self), Is.False, "nobody's listener, root's process");
        });
    }
}
