using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Store;
using LiveUpdateFs.Uapi;
using static LiveUpdateFs.Tests.Store.MemfdHelpers;

namespace LiveUpdateFs.Tests.Store;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class StoreTests
{
    private string _root = null!;
    private readonly List<SafeFd> _fds = [];

    [SetUp]
    public void SetUp()
    {
        _root = Path.Combine(Path.GetTempPath(), "lufs-store-" + Guid.NewGuid().ToString("N"));
    }

    [TearDown]
    public void TearDown()
    {
        foreach (var fd in _fds)
            fd.Dispose();
        if (Directory.Exists(_root))
            Directory.Delete(_root, recursive: true);
    }

    private SafeFd Keep(SafeFd fd)
    {
        _fds.Add(fd);
        return fd;
    }

    private SafeFd RestoreOk(StoreDirectory store, StoredFile file)
    {
        var (error, memfd) = store.Restore(file);
        Assert.That(error, Is.EqualTo(Errno.None));
        return Keep(memfd!);
    }

    /// <summary>Commits one session "keep" with one small file (token 7): the
    /// "previous state" of the crash tests.</summary>
    private static void CommitBaseline(StoreDirectory store)
    {
        using var memfd = Create(64, (0, Encoding.ASCII.GetBytes("baseline state")));
        using var writer = store.BeginGeneration();
        writer.AddSession("keep"u8);
        Assert.That(writer.AddFile(7, "memfd-v2", memfd, 3), Is.EqualTo(Errno.None));
        Assert.That(writer.Commit(), Is.EqualTo(Errno.None));
    }

    private void AssertBaseline(StoreDirectory store)
    {
        var image = store.LoadCommitted();
        Assert.That(image.Sessions, Has.Count.EqualTo(1));
        Assert.That(image.Sessions[0].Name.ToArray(), Is.EqualTo("keep"u8.ToArray()));
        var file = image.Sessions[0].Files.Single();
        Assert.That((file.Token, file.Size, file.Position), Is.EqualTo((7UL, 64L, 3L)));
        var memfd = RestoreOk(store, file);
        Assert.That(Read(memfd, 0, 14), Is.EqualTo(Encoding.ASCII.GetBytes("baseline state")));
    }

    [Test]
    public void Empty_store_loads_an_empty_image()
    {
        var image = StoreDirectory.Open(_root).LoadCommitted();
        Assert.That(image.Generation, Is.Zero);
        Assert.That(image.Sessions, Is.Empty);
    }

    [Test]
    public void Several_sessions_round_trip_with_sizes_positions_and_seals()
    {
        var store = StoreDirectory.Open(_root);
        byte[] small = Pattern(100, 1), page = Pattern(4096, 2);
        using var empty = Create(0);
        using var smallFd = Create(100, (0, small));
        using var sealedFd = Create(8192, (4096, page));
        Assert.That(MemfdOps.AddSeals(sealedFd, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL), Is.EqualTo(Errno.None));
        using var beyondEnd = Create(10, (0, Pattern(10, 3)));

        using (var writer = store.BeginGeneration())
        {
            writer.AddSession("first"u8);
            Assert.That(writer.AddFile(1, "memfd-v2", empty, 0), Is.EqualTo(Errno.None));
            Assert.That(writer.AddFile(2, "memfd-v2", smallFd, 42), Is.EqualTo(Errno.None));
            writer.AddSession("second"u8);
            Assert.That(writer.AddFile(ulong.MaxValue, "memfd-v2", sealedFd, 5000), Is.EqualTo(Errno.None));
            Assert.That(writer.AddFile(4, "memfd-v2", beyondEnd, 1 << 20), Is.EqualTo(Errno.None)); // lseek past EOF is legal
            writer.AddSession("no files"u8);
            Assert.That(writer.Commit(), Is.EqualTo(Errno.None));
        }

        // A fresh StoreDirectory stands in for the restarted daemon.
        var image = StoreDirectory.Open(_root).LoadCommitted();
        Assert.That(image.Generation, Is.EqualTo(1UL));
        Assert.That(image.Sessions.Select(s => Encoding.ASCII.GetString(s.Name.Span)), Is.EqualTo(new[] { "first", "second", "no files" }));
        Assert.That(image.Sessions.Select(s => s.Files.Count), Is.EqualTo(new[] { 2, 2, 0 }));
        var files = image.Sessions.SelectMany(s => s.Files).ToList();
        Assert.That(files.Select(f => f.Token), Is.EqualTo(new[] { 1UL, 2UL, ulong.MaxValue, 4UL }));
        Assert.That(files.Select(f => f.Compatible), Is.All.EqualTo("memfd-v2"));
        Assert.That(files.Select(f => f.Size), Is.EqualTo(new[] { 0L, 100L, 8192L, 10L }));
        Assert.That(files.Select(f => f.Position), Is.EqualTo(new[] { 0L, 42L, 5000L, 1L << 20 }));

        var restoredEmpty = RestoreOk(store, files[0]);
        Assert.That(Stat(restoredEmpty).Size, Is.Zero);
        Assert.That(Seals(restoredEmpty), Is.Zero);

        var restoredSmall = RestoreOk(store, files[1]);
        Assert.That(Read(restoredSmall, 0, 200), Is.EqualTo(small));
        Assert.That(Position(restoredSmall), Is.EqualTo(42));

        var restoredSealed = RestoreOk(store, files[2]);
        Assert.That(Read(restoredSealed, 0, 4096), Is.EqualTo(new byte[4096]));
        Assert.That(Read(restoredSealed, 4096, 4096), Is.EqualTo(page));
        Assert.That(Position(restoredSealed), Is.EqualTo(5000));
        Assert.That(Seals(restoredSealed), Is.EqualTo(F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL));
        Assert.That(FileOps.WriteAll(restoredSealed, [1], 0), Is.EqualTo(Errno.EPERM), "F_SEAL_WRITE is in force");

        Assert.That(Position(RestoreOk(store, files[3])), Is.EqualTo(1L << 20));
    }

    // Two store file systems: /tmp (ext4 here) and /dev/shm (tmpfs, but
    // another superblock than the memfds'). Both reach the content through
    // the cross-file-system copy path.
    [TestCase("tmp")]
    [TestCase("shm")]
    public void Sparse_memfd_costs_only_its_data_and_comes_back_sparse(string where)
    {
        if (where == "shm")
        {
            if (!Directory.Exists("/dev/shm"))
                Assert.Ignore("no /dev/shm");
            _root = Path.Combine("/dev/shm", Path.GetFileName(_root));
        }
        const long size = 1L << 30;
        byte[] a = Pattern(4096, 10), b = Pattern(8192, 11), c = Pattern(4096, 12);
        using var memfd = Create(size, (0, a), (300L << 20, b), (size - 4096, c));
        var store = StoreDirectory.Open(_root);
        using (var writer = store.BeginGeneration())
        {
            writer.AddSession("sparse"u8);
            Assert.That(MemfdOps.SeekTo(memfd, 123), Is.EqualTo(Errno.None));
            Assert.That(writer.AddFile(9, "memfd-v2", memfd, 123), Is.EqualTo(Errno.None));
            // The daemon's fd shares its position with the owner's: SEEK_DATA must not move it.
            Assert.That(Position(memfd), Is.EqualTo(123));
            Assert.That(writer.Commit(), Is.EqualTo(Errno.None));
        }

        var file = store.LoadCommitted().Sessions[0].Files[0];
        Assert.That(file.Runs, Is.EqualTo(new[] { new DataRun(0, 4096), new DataRun(300L << 20, 8192), new DataRun(size - 4096, 4096) }));
        var (openError, content) = FileOps.OpenRead(file.ContentPath);
        Assert.That(openError, Is.EqualTo(Errno.None));
        using (content)
            Assert.That(Stat(content!).Blocks * 512, Is.LessThanOrEqualTo(64 * 1024), "content file holds the 16 KiB of data, not 1 GiB");

        var restored = RestoreOk(store, file);
        var stat = Stat(restored);
        Assert.That(stat.Size, Is.EqualTo(size));
        Assert.That(stat.Blocks * 512, Is.LessThanOrEqualTo(64 * 1024), "holes stay holes in the restored memfd");
        Assert.That(Read(restored, 0, 4096), Is.EqualTo(a));
        Assert.That(Read(restored, 300L << 20, 8192), Is.EqualTo(b));
        Assert.That(Read(restored, size - 4096, 4096), Is.EqualTo(c));
        Assert.That(Read(restored, 4096, 4096), Is.EqualTo(new byte[4096]));
        Assert.That(Read(restored, 600L << 20, 4096), Is.EqualTo(new byte[4096]));
        Assert.That(MemfdOps.DataRuns(restored, size).Runs, Is.EqualTo(file.Runs));
    }

    [Test]
    public void Arbitrary_name_bytes_round_trip_and_never_become_paths()
    {
        byte[][] names =
        [
            "../../etc/passwd"u8.ToArray(),
            ".."u8.ToArray(),
            "a/b"u8.ToArray(),
            [0x00, 0x0a, 0x01, 0x7f, 0xff, (byte)'/'],
            Enumerable.Repeat((byte)0xfe, 63).ToArray(),
            [],
        ];
        var store = StoreDirectory.Open(_root);
        using var memfd = Create(16, (0, Pattern(16, 5)));
        using (var writer = store.BeginGeneration())
        {
            foreach (var name in names)
            {
                writer.AddSession(name);
                Assert.That(writer.AddFile(1, "memfd-v2", memfd, 0), Is.EqualTo(Errno.None));
            }
            Assert.That(writer.Commit(), Is.EqualTo(Errno.None));
        }

        Assert.That(store.LoadCommitted().Sessions.Select(s => s.Name.ToArray()), Is.EqualTo(names));
        // Only the store's own fixed or numbered names exist, at two levels at most.
        foreach (string entry in Directory.EnumerateFileSystemEntries(_root, "*", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(_root, entry);
            Assert.That(relative, Does.Match(@"^(current|gen-[0-9a-f]{16}(/(manifest|data))?)$"));
        }
    }

    [Test]
    public void Store_is_private_to_its_owner()
    {
        var store = StoreDirectory.Open(_root);
        CommitBaseline(store);
        const UnixFileMode dir = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        const UnixFileMode file = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        Assert.That(File.GetUnixFileMode(_root), Is.EqualTo(dir));
        foreach (string sub in Directory.EnumerateDirectories(_root))
            Assert.That(File.GetUnixFileMode(sub), Is.EqualTo(dir), sub);
        var files = Directory.EnumerateFiles(_root, "*", SearchOption.AllDirectories).ToList();
        Assert.That(files, Has.Count.EqualTo(3)); // current, manifest, data
        foreach (string path in files)
            Assert.That(File.GetUnixFileMode(path), Is.EqualTo(file), path);
    }

    [Test]
    public void Existing_loose_store_directory_is_tightened_to_0700()
    {
        Directory.CreateDirectory(_root);
        File.SetUnixFileMode(_root, (UnixFileMode)0x1ed); // 0755
        StoreDirectory.Open(_root);
        Assert.That(File.GetUnixFileMode(_root), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute));
    }

    [TestCase("flip", true, false)]
    [TestCase("truncate", true, false)]
    [TestCase("extend", false, false)]
    [TestCase("delete", true, true)]
    [Description("docs/design.md §8: one pack holds every file's bytes, each file under its own checksum: a flipped byte or a cut end fails only the file it belongs to (EIO, again on retry); bytes after the last file harm nobody; a missing pack fails every file")]
    public void Damaged_pack_gives_EIO_for_the_files_it_damages(string damage, bool victimFails, bool otherFails)
    {
        var store = StoreDirectory.Open(_root);
        byte[] good = Pattern(5000, 20), victimData = Pattern(3000, 21);
        using var other = Create(5000, (0, good));
        using var victim = Create(1 << 20, (4096, victimData));
        using (var writer = store.BeginGeneration())
        {
            writer.AddSession("s"u8);
            Assert.That(writer.AddFile(1, "memfd-v2", other, 0), Is.EqualTo(Errno.None));
            Assert.That(writer.AddFile(2, "memfd-v2", victim, 0), Is.EqualTo(Errno.None));
            Assert.That(writer.Commit(), Is.EqualTo(Errno.None));
        }
        var files = store.LoadCommitted().Sessions[0].Files;
        string path = files[1].ContentPath;
        Assert.That(files[0].ContentPath, Is.EqualTo(path), "one pack holds both files");
        Assert.That(new FileInfo(path).Length, Is.EqualTo(files[0].DataBytes + files[1].DataBytes), "the victim's bytes end the pack");
        switch (damage)
        {
            case "flip":
                byte[] bytes = File.ReadAllBytes(path);
                bytes[^100] ^= 0x40;
                File.WriteAllBytes(path, bytes);
                break;
            case "truncate":
                using (var stream = new FileStream(path, FileMode.Open))
                    stream.SetLength(stream.Length - 1);
                break;
            case "extend":
                File.AppendAllText(path, "x");
                break;
            default:
                File.Delete(path);
                break;
        }

        for (int attempt = 0; attempt < 2; attempt++)
        {
            AssertRestore(store, files[1], victimFails, 4096, victimData);
            AssertRestore(store, files[0], otherFails, 0, good);
        }
    }

    private void AssertRestore(StoreDirectory store, StoredFile file, bool fails, long offset, byte[] data)
    {
        if (!fails)
        {
            Assert.That(Read(RestoreOk(store, file), offset, data.Length), Is.EqualTo(data));
            return;
        }
        var (error, memfd) = store.Restore(file);
        Assert.That(error, Is.EqualTo(Errno.EIO));
        Assert.That(memfd, Is.Null);
    }

    [Test]
    [Description("docs/design.md §7, §8: a durable generation keeps every memfd's data in one pack, file after file, so that a freeze of many small memfds costs one file and one fsync")]
    public void Many_small_memfds_share_one_pack()
    {
        var store = StoreDirectory.Open(_root);
        var memfds = Enumerable.Range(0, 300).Select(i => Keep(Create(4096, (0, Pattern(4096, i))))).ToList();
        using (var writer = store.BeginGeneration())
        {
            for (int i = 0; i < memfds.Count; i++)
            {
                writer.AddSession(Encoding.ASCII.GetBytes($"s{i}"));
                Assert.That(writer.AddFile((ulong)i, "memfd-v2", memfds[i], i), Is.EqualTo(Errno.None));
            }
            Assert.That(writer.Commit(), Is.EqualTo(Errno.None));
        }

        string generation = Directory.EnumerateDirectories(_root, "gen-*").Single();
        Assert.That(Directory.EnumerateFiles(generation).Select(Path.GetFileName), Is.EquivalentTo(new[] { "manifest", "data" }));
        Assert.That(new FileInfo(Path.Combine(generation, "data")).Length, Is.EqualTo(300 * 4096));
        var files = store.LoadCommitted().Sessions.SelectMany(s => s.Files).ToList();
        for (int i = 0; i < files.Count; i++)
        {
            var restored = RestoreOk(store, files[i]);
            Assert.That(Read(restored, 0, 4096), Is.EqualTo(Pattern(4096, i)), $"file {i}");
            Assert.That(Position(restored), Is.EqualTo(i));
        }
    }

    [Test]
    [Description("docs/design.md §8: a memfd without holes is read with preads on the owner's open file, whose position must not move (docs/behaviour.md §8.2)")]
    public void Dense_memfd_is_copied_without_moving_the_owners_position()
    {
        var store = StoreDirectory.Open(_root);
        byte[] data = Pattern(3 * 4096 + 10, 40);
        using var memfd = Create(data.Length, (0, data));
        Assert.That(MemfdOps.SeekTo(memfd, 777), Is.EqualTo(Errno.None));
        using (var writer = store.BeginGeneration())
        {
            writer.AddSession("dense"u8);
            Assert.That(writer.AddFile(1, "memfd-v2", memfd, 777), Is.EqualTo(Errno.None));
            Assert.That(writer.Commit(), Is.EqualTo(Errno.None));
        }
        Assert.That(Position(memfd), Is.EqualTo(777));

        var file = store.LoadCommitted().Sessions[0].Files[0];
        Assert.That(file.Runs, Is.EqualTo(new[] { new DataRun(0, data.Length) }));
        Assert.That(Read(RestoreOk(store, file), 0, data.Length), Is.EqualTo(data));
    }

    [Test]
    [Description("docs/design.md §8: a store written before the pack (manifest LUFSMAN1, one data file per memfd) still restores, so an upgrade between a reboot and the next start loses nothing")]
    public void Store_written_with_one_data_file_per_memfd_still_restores()
    {
        var store = StoreDirectory.Open(_root);
        byte[] a = Pattern(5000, 50), b = Pattern(4096, 51);
        using (var first = Create(a.Length, (0, a)))
        using (var second = Create(1 << 20, (8192, b)))
        using (var writer = store.BeginGeneration())
        {
            writer.AddSession("old"u8);
            Assert.That(writer.AddFile(1, "memfd-v2", first, 0), Is.EqualTo(Errno.None));
            Assert.That(writer.AddFile(2, "memfd-v2", second, 0), Is.EqualTo(Errno.None));
            Assert.That(writer.Commit(), Is.EqualTo(Errno.None));
        }
        // Rewrite the generation as the earlier layout had it: the pack split
        // into data-000000 and data-000001, the manifest's magic LUFSMAN1 and
        // its seal recomputed (the records are the same).
        string generation = Directory.EnumerateDirectories(_root, "gen-*").Single();
        byte[] pack = File.ReadAllBytes(Path.Combine(generation, "data"));
        File.WriteAllBytes(Path.Combine(generation, "data-000000"), pack[..a.Length]);
        File.WriteAllBytes(Path.Combine(generation, "data-000001"), pack[a.Length..]);
        File.Delete(Path.Combine(generation, "data"));
        string manifestPath = Path.Combine(generation, "manifest");
        byte[] manifest = File.ReadAllBytes(manifestPath);
        "LUFSMAN1"u8.CopyTo(manifest);
        BinaryPrimitives.WriteUInt64LittleEndian(manifest.AsSpan(manifest.Length - 8), XxHash3.HashToUInt64(manifest.AsSpan(0, manifest.Length - 8)));
        File.WriteAllBytes(manifestPath, manifest);

        var files = StoreDirectory.Open(_root).LoadCommitted().Sessions[0].Files;
        Assert.That(files.Select(f => Path.GetFileName(f.ContentPath)), Is.EqualTo(new[] { "data-000000", "data-000001" }));
        Assert.That(Read(RestoreOk(store, files[0]), 0, a.Length), Is.EqualTo(a));
        Assert.That(Read(RestoreOk(store, files[1]), 8192, b.Length), Is.EqualTo(b));
    }

    [Test]
    [Description("docs/behaviour.md §7 in place: kept files are records only; the generation is invisible until published, then names the fds, their inodes and the key")]
    public void Kept_files_are_records_only_and_published_separately()
    {
        var store = StoreDirectory.Open(_root);
        CommitBaseline(store);
        using var memfd = Create(8192, (0, Encoding.ASCII.GetBytes("stays in the memfd")));
        KernelStat stat = Stat(memfd);
        using var writer = store.BeginGeneration();
        writer.AddSession("vm"u8);
        Assert.That(writer.AddKeptFile(9, "memfd-v2", memfd, 5, new FileShape(8192, F_SEAL_SHRINK)), Is.EqualTo(Errno.None));

        Assert.That(writer.Prepare(), Is.EqualTo(Errno.None));
        AssertBaseline(store); // prepared is not committed
        string generation = Path.Combine(_root, $"gen-{writer.Generation:x16}");
        Assert.That(Directory.EnumerateFiles(generation).Select(Path.GetFileName), Is.EquivalentTo(new[] { "manifest", "kept" }), "no data file");

        Assert.That(writer.Publish(), Is.EqualTo(Errno.None));
        BootImage image = store.LoadCommitted();
        Assert.That(image.KeptKey, Is.EqualTo(writer.KeptKey));
        StoredFile file = image.Sessions.Single().Files.Single();
        Assert.That((file.Token, file.Size, file.Position, file.Seals, file.DataBytes), Is.EqualTo((9UL, 8192L, 5L, F_SEAL_SHRINK, 0L)));
        Assert.That(file.Kept, Is.EqualTo(new KeptDescriptor(memfd.Fd, stat.Dev, stat.Ino)));
    }

    [Test]
    public void Damaged_kept_list_throws_naming_the_file()
    {
        var store = StoreDirectory.Open(_root);
        using var memfd = Create(10);
        using (var writer = store.BeginGeneration())
        {
            writer.AddSession("vm"u8);
            writer.AddKeptFile(1, "memfd-v2", memfd, 0, new FileShape(10, 0));
            Assert.That(writer.Commit(), Is.EqualTo(Errno.None));
        }
        string kept = Directory.EnumerateFiles(_root, "kept", SearchOption.AllDirectories).Single();
        byte[] bytes = File.ReadAllBytes(kept);
        bytes[20] ^= 1;
        File.WriteAllBytes(kept, bytes);

        var thrown = Assert.Throws<StoreCorruptException>(() => store.LoadCommitted());
        Assert.That(thrown!.Message, Does.Contain(kept));
    }

    [Test]
    public void Dropped_writer_leaves_the_previous_state_and_no_trace()
    {
        var store = StoreDirectory.Open(_root);
        CommitBaseline(store);
        using var memfd = Create(32, (0, Pattern(32, 30)));
        using (var writer = store.BeginGeneration())
        {
            writer.AddSession("new"u8);
            Assert.That(writer.AddFile(8, "memfd-v2", memfd, 0), Is.EqualTo(Errno.None));
        } // no Commit: Dispose aborts

        AssertBaseline(store);
        Assert.That(Directory.EnumerateDirectories(_root).Select(Path.GetFileName), Is.EqualTo(new[] { "gen-0000000000000001" }));
    }

    [Test]
    public void Crash_before_the_pointer_switch_leaves_the_previous_state_complete()
    {
        var store = StoreDirectory.Open(_root);
        CommitBaseline(store);
        using var memfd = Create(32, (0, Pattern(32, 31)));
        var writer = store.BeginGeneration(); // never committed nor disposed: the process "died"
        writer.AddSession("lost"u8);
        Assert.That(writer.AddFile(8, "memfd-v2", memfd, 0), Is.EqualTo(Errno.None));
        // Died after writing the next pointer's temp file, before the rename.
        File.WriteAllText(Path.Combine(_root, "current.tmp"), "gen-0000000000000002\n");

        var restarted = StoreDirectory.Open(_root);
        AssertBaseline(restarted);

        // The next generation starts clean: leftovers gone, numbering continues.
        using var next = restarted.BeginGeneration();
        Assert.That(next.Generation, Is.EqualTo(2UL));
        Assert.That(Directory.EnumerateFileSystemEntries(Path.Combine(_root, "gen-0000000000000002")), Is.Empty);
        Assert.That(File.Exists(Path.Combine(_root, "current.tmp")), Is.False);
    }

    [Test]
    public void Commit_replaces_the_previous_generation()
    {
        var store = StoreDirectory.Open(_root);
        CommitBaseline(store);
        using var memfd = Create(3, (0, "new"u8.ToArray()));
        using (var writer = store.BeginGeneration())
        {
            writer.AddSession("next"u8);
            Assert.That(writer.AddFile(9, "memfd-v2", memfd, 0), Is.EqualTo(Errno.None));
            Assert.That(writer.Commit(), Is.EqualTo(Errno.None));
        }

        var image = store.LoadCommitted();
        Assert.That(image.Generation, Is.EqualTo(2UL));
        Assert.That(image.Sessions.Single().Name.ToArray(), Is.EqualTo("next"u8.ToArray()));
        Assert.That(Read(RestoreOk(store, image.Sessions[0].Files[0]), 0, 10), Is.EqualTo("new"u8.ToArray()));
        Assert.That(Directory.EnumerateDirectories(_root).Select(Path.GetFileName), Is.EqualTo(new[] { "gen-0000000000000002" }));
    }

    [Test]
    [Description("docs/behaviour.md §3: a store without the consumed mark (as every earlier version wrote it) offers its generation")]
    public void Generation_without_the_consumed_mark_is_offered()
    {
        var store = StoreDirectory.Open(_root);
        CommitBaseline(store);

        Assert.That(File.Exists(Path.Combine(_root, "gen-0000000000000001", "consumed")), Is.False, "a commit writes no mark");
        Assert.That(StoreDirectory.Open(_root).LoadCommitted().Consumed, Is.False);
        AssertBaseline(StoreDirectory.Open(_root));
    }

    [Test]
    [Description("docs/behaviour.md §3: the consumed mark is written (temp, fsync, rename, directory fsync) at its checkpoint and read back by the next daemon: the generation offers nothing")]
    public void Consumed_mark_is_written_and_read_back()
    {
        CommitBaseline(StoreDirectory.Open(_root));
        var checkpoints = new FailingCheckpoints("none");
        var store = StoreDirectory.Open(_root, checkpoints);
        BootImage image = store.LoadCommitted();

        Assert.That(store.MarkConsumed(image), Is.EqualTo(Errno.None));

        Assert.That(checkpoints.Reached, Is.EqualTo(new[] { StoreStep.ConsumedWrite }));
        string generation = Path.Combine(_root, "gen-0000000000000001");
        Assert.That(Directory.EnumerateFiles(generation).Select(Path.GetFileName), Does.Contain("consumed").And.Not.Contain("consumed.tmp"));
        Assert.That(File.GetUnixFileMode(Path.Combine(generation, "consumed")), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
        BootImage again = StoreDirectory.Open(_root).LoadCommitted();
        Assert.That((again.Generation, again.Consumed, again.Sessions.Count), Is.EqualTo((1UL, true, 0)));
        Assert.That(store.MarkConsumed(again), Is.EqualTo(Errno.None), "marking a consumed generation again changes nothing");
    }

    [Test]
    [Description("docs/behaviour.md §3: a consumed generation needs none of its files again: its manifest and data may be gone")]
    public void Consumed_generation_needs_neither_manifest_nor_data()
    {
        var store = StoreDirectory.Open(_root);
        CommitBaseline(store);
        Assert.That(store.MarkConsumed(store.LoadCommitted()), Is.EqualTo(Errno.None));
        string generation = Path.Combine(_root, "gen-0000000000000001");
        foreach (string file in Directory.EnumerateFiles(generation).Where(f => Path.GetFileName(f) != "consumed"))
            File.Delete(file);

        BootImage image = StoreDirectory.Open(_root).LoadCommitted();
        Assert.That((image.Generation, image.Consumed, image.Sessions.Count), Is.EqualTo((1UL, true, 0)));
    }

    [Test]
    [Description("docs/behaviour.md §3: a mark that fails leaves no mark: the generation is still offered")]
    public void Failed_consumed_mark_leaves_no_mark()
    {
        CommitBaseline(StoreDirectory.Open(_root));
        var store = StoreDirectory.Open(_root, new FailingCheckpoints(StoreStep.ConsumedWrite));
        // A leftover of an attempt that died between the temp file and its rename.
        File.WriteAllText(Path.Combine(_root, "gen-0000000000000001", "consumed.tmp"), "half");

        Assert.That(store.MarkConsumed(store.LoadCommitted()), Is.EqualTo(Errno.EIO));
        Assert.That(store.LoadCommitted().Consumed, Is.False, "a leftover temp file is no mark");
        AssertBaseline(store);

        Assert.That(store.MarkConsumed(store.LoadCommitted()), Is.EqualTo(Errno.None), "the next attempt succeeds");
        Assert.That(store.LoadCommitted().Consumed, Is.True);
        Assert.That(File.Exists(Path.Combine(_root, "gen-0000000000000001", "consumed.tmp")), Is.False);
    }

    [Test]
    [Description("docs/behaviour.md §7: a reboot after a consumed generation commits a new one, offered in full; the consumed one is removed")]
    public void Commit_after_a_consumed_generation_is_offered()
    {
        var store = StoreDirectory.Open(_root);
        CommitBaseline(store);
        Assert.That(store.MarkConsumed(store.LoadCommitted()), Is.EqualTo(Errno.None));
        using var memfd = Create(3, (0, "new"u8.ToArray()));
        using (var writer = store.BeginGeneration())
        {
            writer.AddSession("next"u8);
            Assert.That(writer.AddFile(9, "memfd-v2", memfd, 0), Is.EqualTo(Errno.None));
            Assert.That(writer.Commit(), Is.EqualTo(Errno.None));
        }

        BootImage image = StoreDirectory.Open(_root).LoadCommitted();
        Assert.That((image.Generation, image.Consumed), Is.EqualTo((2UL, false)));
        Assert.That(image.Sessions.Single().Name.ToArray(), Is.EqualTo("next"u8.ToArray()));
        Assert.That(Directory.EnumerateDirectories(_root).Select(Path.GetFileName), Is.EqualTo(new[] { "gen-0000000000000002" }));
    }

    [Test]
    public void Empty_store_has_nothing_to_mark()
    {
        var store = StoreDirectory.Open(_root);
        Assert.That(store.MarkConsumed(store.LoadCommitted()), Is.EqualTo(Errno.None));
        Assert.That(Directory.EnumerateFileSystemEntries(_root), Is.Empty);
    }

    [Test]
    [Description("A commit whose pointer rename is not yet durable (its directory fsync failed) keeps the previous generation: a power loss may bring that pointer back")]
    public void Failed_pointer_fsync_keeps_the_previous_generation()
    {
        CommitBaseline(StoreDirectory.Open(_root));
        var faults = new FailingCheckpoints(StoreStep.PointerFsync);
        var store = StoreDirectory.Open(_root, faults);
        using var memfd = Create(3, (0, "new"u8.ToArray()));
        using (var writer = store.BeginGeneration())
        {
            writer.AddSession("next"u8);
            Assert.That(writer.AddFile(9, "memfd-v2", memfd, 0), Is.EqualTo(Errno.None));
            Assert.That(writer.Commit(), Is.EqualTo(Errno.None), "the rename is the commit");
            Assert.That(writer.UnsyncedPointer, Is.EqualTo(Errno.EIO));
        }

        Assert.That(store.LoadCommitted().Generation, Is.EqualTo(2UL));
        Assert.That(Directory.EnumerateDirectories(_root).Select(Path.GetFileName).Order(),
            Is.EqualTo(new[] { "gen-0000000000000001", "gen-0000000000000002" }), "the previous generation stays");

        // The next generation, its store directory durable, removes it.
        using (store.BeginGeneration())
            Assert.That(Directory.Exists(Path.Combine(_root, "gen-0000000000000001")), Is.False);
    }

    [Test]
    public void File_that_cannot_be_added_blocks_the_commit()
    {
        var store = StoreDirectory.Open(_root);
        CommitBaseline(store);
        string regular = Path.Combine(_root, "not-a-memfd");
        File.WriteAllText(regular, "x");
        var (_, fd) = FileOps.OpenRead(regular);
        using (fd)
        using (var writer = store.BeginGeneration())
        {
            writer.AddSession("bad"u8);
            Assert.That(writer.AddFile(1, "memfd-v2", fd!, 0), Is.EqualTo(Errno.EINVAL), "F_GET_SEALS on a non-shmem file");
            Assert.That(writer.Commit(), Is.EqualTo(Errno.EINVAL));
        }
        File.Delete(regular);
        AssertBaseline(store);
    }

    [Test]
    public void Damaged_manifest_throws_naming_the_file()
    {
        var store = StoreDirectory.Open(_root);
        CommitBaseline(store);
        string manifest = Path.Combine(_root, "gen-0000000000000001", "manifest");
        byte[] bytes = File.ReadAllBytes(manifest);
        bytes[20] ^= 1;
        File.WriteAllBytes(manifest, bytes);

        var error = Assert.Throws<StoreCorruptException>(() => store.LoadCommitted());
        Assert.That(error!.Message, Does.Contain(manifest));
        Assert.That(error.FilePath, Is.EqualTo(manifest));

        File.WriteAllBytes(manifest, bytes[..10]);
        Assert.That(Assert.Throws<StoreCorruptException>(() => store.LoadCommitted())!.Message, Does.Contain(manifest).And.Contain("truncated"));

        File.Delete(manifest);
        Assert.That(Assert.Throws<StoreCorruptException>(() => store.LoadCommitted())!.Message, Does.Contain(manifest));
    }

    [TestCase("garbage")]
    [TestCase("gen-0000000000000009\n")]
    [TestCase("")]
    public void Damaged_pointer_throws_naming_the_file(string pointer)
    {
        var store = StoreDirectory.Open(_root);
        CommitBaseline(store);
        string path = Path.Combine(_root, "current");
        File.WriteAllText(path, pointer);
        Assert.That(Assert.Throws<StoreCorruptException>(() => store.LoadCommitted())!.Message, Does.Contain(path).And.Contain("move the store directory aside"));
        Assert.Throws<StoreCorruptException>(() => store.BeginGeneration());
    }
}
