using System.Runtime.InteropServices;
using LiveUpdateFs.Fuse;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Interop.Libfuse;
using LiveUpdateFs.Tests.Integration;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Tests.Interop;

/// <summary>
/// The C# mirrors of libfuse's structs and of struct lufs_envelope must match
/// the C headers byte for byte: a C program compiled here prints the truth.
/// </summary>
[TestFixture]
public sealed class NativeLayoutTests
{
    private Dictionary<string, long> _c = null!;

    private const string Probe = """
        #define FUSE_USE_VERSION 35
        #include <fuse_lowlevel.h>
        #include <stddef.h>
        #include <stdio.h>
        #include "lufs-envelope.h"
        #define P(name, value) printf("%s %ld\n", name, (long)(value))
        int main(void) {
            P("ops.size", sizeof(struct fuse_lowlevel_ops));
            P("ops.init", offsetof(struct fuse_lowlevel_ops, init));
            P("ops.lookup", offsetof(struct fuse_lowlevel_ops, lookup));
            P("ops.getattr", offsetof(struct fuse_lowlevel_ops, getattr));
            P("ops.setattr", offsetof(struct fuse_lowlevel_ops, setattr));
            P("ops.open", offsetof(struct fuse_lowlevel_ops, open));
            P("ops.read", offsetof(struct fuse_lowlevel_ops, read));
            P("ops.write", offsetof(struct fuse_lowlevel_ops, write));
            P("ops.flush", offsetof(struct fuse_lowlevel_ops, flush));
            P("ops.release", offsetof(struct fuse_lowlevel_ops, release));
            P("ops.readdir", offsetof(struct fuse_lowlevel_ops, readdir));
            P("ops.ioctl", offsetof(struct fuse_lowlevel_ops, ioctl));
            P("ops.lseek", offsetof(struct fuse_lowlevel_ops, lseek));
            P("fi.size", sizeof(struct fuse_file_info));
            P("fi.fh", offsetof(struct fuse_file_info, fh));
            P("fi.lock_owner", offsetof(struct fuse_file_info, lock_owner));
            struct fuse_file_info fi = {0};
            fi.direct_io = 1; fi.nonseekable = 1; fi.noflush = 1;
            P("fi.bits", *(unsigned int *)((char *)&fi + sizeof(int)));
            P("entry.size", sizeof(struct fuse_entry_param));
            P("entry.attr", offsetof(struct fuse_entry_param, attr));
            P("entry.attr_timeout", offsetof(struct fuse_entry_param, attr_timeout));
            P("stat.size", sizeof(struct stat));
            P("stat.st_mode", offsetof(struct stat, st_mode));
            P("stat.st_size", offsetof(struct stat, st_size));
            P("buf.size", sizeof(struct fuse_buf));
            P("buf.mem", offsetof(struct fuse_buf, mem));
            P("buf.pos", offsetof(struct fuse_buf, pos));
            P("conn.max_background", offsetof(struct fuse_conn_info, max_background));
            P("ctx.pid", offsetof(struct fuse_ctx, pid));
            P("env.size", sizeof(struct lufs_envelope));
            P("env.request", LUFS_ENVELOPE_REQUEST);
            P("env.ticket", offsetof(struct lufs_envelope, ticket));
            P("env.node_name", offsetof(struct lufs_envelope, node_name));
            P("short.create", LUFS_PREPARE_SESSION(0, 4));
            P("short.retrieve", LUFS_PREPARE_SESSION(1, LUFS_SHORT_FD_MAX));
            P("short.fd_max", LUFS_SHORT_FD_MAX);
            P("short.abort", LUFS_ABORT_SESSION(22));
            return 0;
        }
        """;

    [OneTimeSetUp]
    public void CompileProbe()
    {
        string dir = Directory.CreateTempSubdirectory("layout-").FullName;
        string source = Path.Combine(dir, "probe.c");
        string binary = Path.Combine(dir, "probe");
        File.WriteAllText(source, Probe);
        ProcessResult compiled = ProcessRunner.Run("gcc",
            ["-std=c11", "-I/usr/include/fuse3", $"-I{Path.Combine(Repository.Root, "src", "native")}", source, "-o", binary]);
        Assert.That(compiled.ExitCode, Is.Zero, $"the layout probe does not compile (libfuse3-dev installed?):\n{compiled.Output}");
        ProcessResult ran = ProcessRunner.Run(binary, []);
        _c = ran.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' '))
            .ToDictionary(parts => parts[0], parts => long.Parse(parts[1]));
        Directory.Delete(dir, recursive: true);
    }

    private static long Offset<T>(string field) => Marshal.OffsetOf<T>(field).ToInt64();

    [Test]
    public unsafe void Lowlevel_ops_table_matches_the_header()
    {
        Assert.Multiple(() =>
        {
            Assert.That(sizeof(FuseLowlevelOps), Is.EqualTo(_c["ops.size"]));
            Assert.That(Offset<FuseLowlevelOps>(nameof(FuseLowlevelOps.Init)), Is.EqualTo(_c["ops.init"]));
            Assert.That(Offset<FuseLowlevelOps>(nameof(FuseLowlevelOps.Lookup)), Is.EqualTo(_c["ops.lookup"]));
            Assert.That(Offset<FuseLowlevelOps>(nameof(FuseLowlevelOps.Getattr)), Is.EqualTo(_c["ops.getattr"]));
            Assert.That(Offset<FuseLowlevelOps>(nameof(FuseLowlevelOps.Setattr)), Is.EqualTo(_c["ops.setattr"]));
            Assert.That(Offset<FuseLowlevelOps>(nameof(FuseLowlevelOps.Open)), Is.EqualTo(_c["ops.open"]));
            Assert.That(Offset<FuseLowlevelOps>(nameof(FuseLowlevelOps.Read)), Is.EqualTo(_c["ops.read"]));
            Assert.That(Offset<FuseLowlevelOps>(nameof(FuseLowlevelOps.Write)), Is.EqualTo(_c["ops.write"]));
            Assert.That(Offset<FuseLowlevelOps>(nameof(FuseLowlevelOps.Flush)), Is.EqualTo(_c["ops.flush"]));
            Assert.That(Offset<FuseLowlevelOps>(nameof(FuseLowlevelOps.Release)), Is.EqualTo(_c["ops.release"]));
            Assert.That(Offset<FuseLowlevelOps>(nameof(FuseLowlevelOps.Readdir)), Is.EqualTo(_c["ops.readdir"]));
            Assert.That(Offset<FuseLowlevelOps>(nameof(FuseLowlevelOps.Ioctl)), Is.EqualTo(_c["ops.ioctl"]));
            Assert.That(Offset<FuseLowlevelOps>(nameof(FuseLowlevelOps.Lseek)), Is.EqualTo(_c["ops.lseek"]));
        });
    }

    [Test]
    public unsafe void Request_structs_match_the_headers()
    {
        Assert.Multiple(() =>
        {
            Assert.That(sizeof(FuseFileInfo), Is.EqualTo(_c["fi.size"]));
            Assert.That(Offset<FuseFileInfo>(nameof(FuseFileInfo.Fh)), Is.EqualTo(_c["fi.fh"]));
            Assert.That(Offset<FuseFileInfo>(nameof(FuseFileInfo.LockOwner)), Is.EqualTo(_c["fi.lock_owner"]));
            Assert.That((long)(FuseFileInfo.DirectIo | FuseFileInfo.NonSeekable | FuseFileInfo.NoFlush), Is.EqualTo(_c["fi.bits"]));
            Assert.That(sizeof(FuseEntryParam), Is.EqualTo(_c["entry.size"]));
            Assert.That(Offset<FuseEntryParam>(nameof(FuseEntryParam.Attr)), Is.EqualTo(_c["entry.attr"]));
            Assert.That(Offset<FuseEntryParam>(nameof(FuseEntryParam.AttrTimeout)), Is.EqualTo(_c["entry.attr_timeout"]));
            Assert.That(sizeof(KernelStat), Is.EqualTo(_c["stat.size"]));
            Assert.That(Offset<KernelStat>(nameof(KernelStat.Mode)), Is.EqualTo(_c["stat.st_mode"]));
            Assert.That(Offset<KernelStat>(nameof(KernelStat.Size)), Is.EqualTo(_c["stat.st_size"]));
            Assert.That(sizeof(FuseBuf), Is.EqualTo(_c["buf.size"]));
            Assert.That(Offset<FuseBuf>(nameof(FuseBuf.Mem)), Is.EqualTo(_c["buf.mem"]));
            Assert.That(Offset<FuseBuf>(nameof(FuseBuf.Pos)), Is.EqualTo(_c["buf.pos"]));
            Assert.That(Offset<FuseConnInfo>(nameof(FuseConnInfo.MaxBackground)), Is.EqualTo(_c["conn.max_background"]));
            Assert.That(Offset<FuseCtx>(nameof(FuseCtx.Pid)), Is.EqualTo(_c["ctx.pid"]));
        });
    }

    [Test]
    public void Envelope_matches_the_preload_library_header()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Envelope.Size, Is.EqualTo(_c["env.size"]));
            Assert.That((long)Envelope.Request, Is.EqualTo(_c["env.request"]));
        });
    }

    [Test]
    [Description("The daemon reads the short forms of a session's hand-over as the library's header builds them, and a plain _IO of their nr as no short form")]
    public void Short_hand_over_requests_decode_as_the_header_builds_them()
    {
        Assert.Multiple(() =>
        {
            Assert.That(ShortHandover.IsPrepare((uint)_c["short.create"], out uint create, out int createFd), Is.True);
            Assert.That((create, createFd), Is.EqualTo((LuoRequest.CreateSession, 4)));
            Assert.That(ShortHandover.IsPrepare((uint)_c["short.retrieve"], out uint retrieve, out int retrieveFd), Is.True);
            Assert.That((retrieve, retrieveFd), Is.EqualTo((LuoRequest.RetrieveSession, (int)_c["short.fd_max"])));
            Assert.That(ShortHandover.IsAbort((uint)_c["short.abort"], out Errno failed) && failed == Errno.EINVAL, Is.True);
            Assert.That(ShortHandover.IsPrepare(0xBAE0, out _, out _), Is.False, "_IO(0xBA, 0xE0): size bits 0");
            Assert.That(ShortHandover.IsAbort(0xBAE2, out _), Is.False, "_IO(0xBA, 0xE2): size bits 0");
            Assert.That(ShortHandover.IsPrepare(0x4005BAE0, out _, out _), Is.False, "_IOW(0xBA, 0xE0, 5): a direction");
        });
    }
}
