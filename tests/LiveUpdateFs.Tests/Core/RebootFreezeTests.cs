using LiveUpdateFs.Core.Reboot;
using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Tests.Fakes;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Tests.Core;

/// <summary>The reboot serialization (docs/behaviour.md §7 step 1) as the orchestrator runs it.</summary>
[FixtureLifeCycle(LifeCycle.InstancePerTestCase)]
public class RebootFreezeTests
{
    private readonly OrchestratorHarness _h = new();

    private Session Outgoing(string name, params ulong[] tokens)
    {
        Session session = _h.Create(name);
        foreach (ulong token in tokens)
            Assert.That(_h.Preserve(session, token, Facts.Memfd(1000 + token, size: 4096 * (long)token)), Is.EqualTo(Errno.None));
        return session;
    }

    [Test]
    [Description("docs/behaviour.md §7: outgoing sessions in creation order, files in preservation order; closed sessions are not handed over")]
    public void Freeze_writes_open_sessions_in_order()
    {
        Outgoing("b", 2, 1);
        Session closed = Outgoing("closed", 9);
        Outgoing("a", 3);
        Outgoing("empty");
        _h.Luo.ReleaseSession(closed);
        var image = new FakeHandoverImage();

        Assert.That(_h.Luo.Freeze(image, out HandoverSummary summary), Is.EqualTo(Errno.None));

        Assert.That(image.Records, Is.EqualTo(new[] { "begin 3", "session b", "file 2", "file 1", "session a", "file 3", "session empty" }));
        Assert.That(image.Committed, Is.True);
        Assert.That(summary, Is.EqualTo(new HandoverSummary(Sessions: 3, Files: 3, Bytes: 4096 * (2 + 1 + 3))));
    }

    [Test]
    [Description("docs/behaviour.md §7: a frozen boot can be serialized once more (an in-place handover written durably at a stop), with the same records; an unfrozen one cannot")]
    public void Reserialize_repeats_the_frozen_image()
    {
        Outgoing("b", 2, 1);
        Outgoing("a", 3);
        Assert.That(_h.Luo.Reserialize(new FakeHandoverImage(), out _), Is.EqualTo(Errno.EINVAL), "nothing frozen yet");
        var first = new FakeHandoverImage();
        Assert.That(_h.Luo.Freeze(first, out HandoverSummary frozen), Is.EqualTo(Errno.None));
        var again = new FakeHandoverImage();

        Assert.That(_h.Luo.Reserialize(again, out HandoverSummary summary), Is.EqualTo(Errno.None));

        Assert.That(again.Records, Is.EqualTo(first.Records));
        Assert.That(again.Committed, Is.True);
        Assert.That(summary, Is.EqualTo(frozen));
        Assert.That(_h.Luo.Frozen, Is.True);
    }

    [Test]
    [Description("docs/behaviour.md §7: incoming sessions, retrieved or not, are not serialized")]
    public void Freeze_leaves_incoming_sessions_out()
    {
        _h.AddIncoming("waiting", (1, new FakeRestorableFile(Facts.Memfd(1))));
        _h.Incoming("taken", (2, new FakeRestorableFile(Facts.Memfd(2))));
        var image = new FakeHandoverImage();

        Assert.That(_h.Luo.Freeze(image, out HandoverSummary summary), Is.EqualTo(Errno.None));

        Assert.That(image.Records, Is.EqualTo(new[] { "begin 0" }), "no session, no file");
        Assert.That(summary.Sessions, Is.Zero);
    }

    [TestCase(1)]
    [TestCase(3)]
    [Description("docs/behaviour.md §7: a file that cannot be frozen aborts the image and changes nothing; LUO keeps working")]
    public void Freeze_with_a_failing_file_rolls_back(int failingFile)
    {
        Session b = Outgoing("b", 1, 2);
        Outgoing("c", 3);
        var image = new FakeHandoverImage(failFile: failingFile, failWith: Errno.ENOMEM);

        Assert.That(_h.Luo.Freeze(image, out _), Is.EqualTo(Errno.ENOMEM));

        Assert.Multiple(() =>
        {
            Assert.That(image.Aborted, Is.True);
            Assert.That(image.Committed, Is.False);
            Assert.That(_h.Luo.Frozen, Is.False);
            Assert.That(_h.Luo.Snapshot().Sessions.Select(s => s.Files.Count), Is.EqualTo(new[] { 2, 1 }));
            Assert.That(_h.Preserve(b, 4, Facts.Memfd(50)), Is.EqualTo(Errno.None), "service continues");
        });
        Assert.That(_h.Luo.Freeze(new FakeHandoverImage(), out HandoverSummary retried), Is.EqualTo(Errno.None), "a later reboot succeeds");
        Assert.That(retried.Files, Is.EqualTo(4));
    }

    [Test]
    [Description("docs/behaviour.md §7: a failed commit is a failed serialization: rolled back, not frozen")]
    public void Freeze_with_a_failing_commit_rolls_back()
    {
        Outgoing("s", 1);
        var image = new FakeHandoverImage(commitResult: Errno.ENOSPC);

        Assert.That(_h.Luo.Freeze(image, out _), Is.EqualTo(Errno.ENOSPC));

        Assert.That(image.Aborted, Is.True);
        Assert.That(_h.Luo.Frozen, Is.False);
    }

    [Test]
    [Description("docs/behaviour.md §5.2 [v7.2]: after a successful serialization the release of a session changes nothing")]
    public void Release_after_a_freeze_keeps_the_session()
    {
        Session s = Outgoing("s", 1);
        Assert.That(_h.Luo.Freeze(new FakeHandoverImage(), out _), Is.EqualTo(Errno.None));

        _h.Luo.ReleaseSession(s);

        Assert.That(_h.Luo.Frozen, Is.True);
        Assert.That(_h.Luo.Snapshot().Sessions.Single().Files, Has.Count.EqualTo(1));
        Assert.That(_h.LastTaken.Disposed, Is.False, "the preserved file is still held");
    }

    [Test]
    [Description("docs/behaviour.md §7: the boot is over after a serialization: a second one is refused")]
    public void Second_freeze_is_refused()
    {
        Assert.That(_h.Luo.Freeze(new FakeHandoverImage(), out _), Is.EqualTo(Errno.None));

        Assert.That(_h.Luo.Freeze(new FakeHandoverImage(), out _), Is.EqualTo(Errno.EBUSY));
    }
}
