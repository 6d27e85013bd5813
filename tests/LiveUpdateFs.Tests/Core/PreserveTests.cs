using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Tests.Fakes;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Tests.Core;

/// <summary>PRESERVE_FD in the orchestrator (docs/behaviour.md §4.3) and the close of an
/// outgoing session (docs/behaviour.md §5.2).</summary>
[FixtureLifeCycle(LifeCycle.InstancePerTestCase)]
public class PreserveTests
{
    private readonly OrchestratorHarness _h = new();

    private static readonly FileFacts Memfd = Facts.Memfd(100);

    private static readonly object[] UnsupportedFiles =
    [
        new object[] { "linked tmpfs", Facts.LinkedTmpfs(200) },
        new object[] { "hugetlb memfd", Facts.HugetlbMemfd(201) },
        new object[] { "unlinked disk file", Facts.UnlinkedDiskFile(202) },
        new object[] { "pipe", Facts.Pipe(203) },
    ];

    [Test]
    [Description("docs/behaviour.md §4.3, §8.2: a memfd is preserved under its token, LUO keeps its reference and the file is frozen")]
    public void Memfd_is_preserved()
    {
        Session session = _h.Create("s");

        Assert.That(_h.Preserve(session, 7, Memfd), Is.EqualTo(Errno.None));
        Assert.That(session.Preserved.Single().Token, Is.EqualTo(7ul));
        Assert.That(session.Preserved.Single().File, Is.SameAs(_h.LastTaken));
        Assert.That(_h.LastTaken.Disposed, Is.False);
        Assert.That(_h.Luo.IsFrozen(Memfd.Identity), Is.True);
    }

    [Test]
    [Description("docs/behaviour.md §4.3 step 2: a duplicate token is EEXIST, checked before the fd (no reference is taken)")]
    public void Duplicate_token_is_EEXIST_before_a_bad_fd()
    {
        Session session = _h.Create("s");
        _h.Preserve(session, 0, Memfd);

        Assert.That(_h.Luo.Preserve(session, 0, fd: 999, _h.Files), Is.EqualTo(Errno.EEXIST));
        Assert.That(_h.Files.Taken, Has.Count.EqualTo(1));
    }

    [Test]
    [Description("docs/behaviour.md §4.3 step 2: tokens are unique per session only")]
    public void Same_token_in_another_session_is_accepted()
    {
        _h.Preserve(_h.Create("a"), 5, Memfd);

        Assert.That(_h.Preserve(_h.Create("b"), 5, Facts.Memfd(101)), Is.EqualTo(Errno.None));
    }

    [Test]
    [Description("docs/behaviour.md §4.3 step 4: an fd the caller does not have is EBADF")]
    public void Bad_fd_is_EBADF() =>
        Assert.That(_h.Luo.Preserve(_h.Create("s"), 1, fd: 999, _h.Files), Is.EqualTo(Errno.EBADF));

    [TestCaseSource(nameof(UnsupportedFiles))]
    [Description("docs/behaviour.md §4.3 step 5, §8.1: a file no handler accepts is ENOENT and its reference is dropped")]
    public void Unsupported_file_is_ENOENT(string what, FileFacts facts)
    {
        Session session = _h.Create("s");

        Assert.That(_h.Preserve(session, 1, facts), Is.EqualTo(Errno.ENOENT), what);
        Assert.That(_h.LastTaken.Disposed, Is.True);
        Assert.That(session.Preserved, Is.Empty);
        Assert.That(_h.Luo.IsFrozen(facts.Identity), Is.False);
    }

    [Test]
    [Description("docs/behaviour.md §4.3 step 6: the same file again in the same session, under another token, is EBUSY")]
    public void Same_file_in_the_same_session_is_EBUSY()
    {
        Session session = _h.Create("s");
        _h.Preserve(session, 1, Memfd);
        FakeHeldFile first = _h.LastTaken;

        Assert.That(_h.Preserve(session, 2, Memfd), Is.EqualTo(Errno.EBUSY));
        Assert.That(_h.LastTaken.Disposed, Is.True, "the rejected reference is dropped");
        Assert.That(first.Disposed, Is.False, "the preserved one is kept");
        Assert.That(session.Preserved, Has.Count.EqualTo(1));
    }

    [Test]
    [Description("docs/behaviour.md §4.3 step 6: the same file in another session is EBUSY")]
    public void Same_file_in_another_session_is_EBUSY()
    {
        _h.Preserve(_h.Create("a"), 1, Memfd);

        Assert.That(_h.Preserve(_h.Create("b"), 1, Memfd), Is.EqualTo(Errno.EBUSY));
        Assert.That(_h.LastTaken.Disposed, Is.True);
    }

    [Test]
    [Description("docs/behaviour.md §4.3 step 9: a handler error is returned, the reference dropped and the token left free")]
    public void Handler_error_is_returned_and_nothing_is_kept()
    {
        var h = new OrchestratorHarness(new FakeFileHandler(Errno.EOPNOTSUPP));
        Session session = h.Create("s");

        Assert.That(h.Preserve(session, 1, Memfd), Is.EqualTo(Errno.EOPNOTSUPP));
        Assert.That(h.LastTaken.Disposed, Is.True);
        Assert.That(h.Luo.IsFrozen(Memfd.Identity), Is.False);
        Assert.That(session.HasToken(1), Is.False);
    }

    [Test]
    [Description("docs/behaviour.md §5.2: closing an outgoing session unpreserves and drops every file, newest first")]
    public void Closing_an_outgoing_session_drops_every_file_newest_first()
    {
        var handler = new FakeFileHandler();
        var h = new OrchestratorHarness(handler);
        Session session = h.Create("s");
        for (ulong i = 0; i < 3; i++)
            h.Preserve(session, i, Facts.Memfd(100 + i));

        h.Luo.ReleaseSession(session);

        IEnumerable<FakeHeldFile> newestFirst = Enumerable.Reverse(h.Files.Taken);
        Assert.That(handler.Unpreserved, Is.EqualTo(newestFirst));
        Assert.That(h.Files.Disposals, Is.EqualTo(newestFirst));
    }

    [Test]
    [Description("docs/behaviour.md §5.2: after the close, the file is no longer frozen and can be preserved again")]
    public void Closing_an_outgoing_session_frees_the_file()
    {
        Session session = _h.Create("s");
        _h.Preserve(session, 1, Memfd);

        _h.Luo.ReleaseSession(session);

        Assert.That(_h.Luo.IsFrozen(Memfd.Identity), Is.False);
        Assert.That(_h.Preserve(_h.Create("t"), 1, Memfd), Is.EqualTo(Errno.None));
    }

    [Test]
    [Description("docs/behaviour.md §5.2: the session leaves the outgoing list")]
    public void Closing_an_outgoing_session_removes_it()
    {
        _h.Luo.ReleaseSession(_h.Create("s"));

        Assert.That(_h.Luo.Snapshot().Sessions, Is.Empty);
    }

    [Test]
    [Description("docs/behaviour.md §5.2: a repeated release of a closed session changes nothing, not even a new session of the same name")]
    public void Closing_an_outgoing_session_twice_is_harmless()
    {
        Session stale = _h.Create("s");
        _h.Luo.ReleaseSession(stale);
        _h.Create("s");

        _h.Luo.ReleaseSession(stale);

        Assert.That(_h.Create("s", out _), Is.EqualTo(Errno.EEXIST));
    }
}
