using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Tests.Fakes;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Tests.Core;

/// <summary>Sessions handed over by the previous boot: RETRIEVE_SESSION (spec
/// docs/behaviour.md §4.2), RETRIEVE_FD (§4.4), FINISH (§4.5) and the close of a retrieved
/// session (docs/behaviour.md §5.2).</summary>
[FixtureLifeCycle(LifeCycle.InstancePerTestCase)]
public class IncomingSessionTests
{
    private readonly OrchestratorHarness _h = new();

    private static FakeRestorableFile Memfd(ulong inode) => new(Facts.Memfd(inode));

    // ---- RETRIEVE_SESSION ----

    [Test]
    [Description("docs/behaviour.md §4.2 step 3: an unknown name is ENOENT")]
    public void RETRIEVE_SESSION_of_an_unknown_name_is_ENOENT() =>
        Assert.That(_h.Retrieve("nothing", out _), Is.EqualTo(Errno.ENOENT));

    [Test]
    [Description("docs/behaviour.md §4.2 step 3: only incoming sessions are looked up; an outgoing name is ENOENT")]
    public void RETRIEVE_SESSION_of_an_outgoing_name_is_ENOENT()
    {
        _h.Create("out");

        Assert.That(_h.Retrieve("out", out _), Is.EqualTo(Errno.ENOENT));
    }

    [Test]
    [Description("docs/behaviour.md §4.2 step 3: a 64-byte name without NUL matches nothing")]
    public void RETRIEVE_SESSION_of_an_unterminated_name_is_ENOENT()
    {
        _h.AddIncoming(new string('x', 63));

        Assert.That(_h.Retrieve(new string('x', 64), out _), Is.EqualTo(Errno.ENOENT));
    }

    [Test]
    [Description("docs/behaviour.md §4.2 steps 4-5: the first retrieve marks the session retrieved; the second is EINVAL")]
    public void RETRIEVE_SESSION_twice_is_EINVAL()
    {
        _h.AddIncoming("in");
        Session session = _h.Retrieve("in");

        Assert.That(session.Retrieved, Is.True);
        Assert.That(_h.Retrieve("in", out _), Is.EqualTo(Errno.EINVAL));
    }

    [Test]
    [Description("docs/behaviour.md §4.1 step 5, §4.2 step 3: with an outgoing and an incoming session of one name, retrieve finds the incoming one")]
    public void RETRIEVE_SESSION_finds_the_incoming_one_when_an_outgoing_shares_the_name()
    {
        Session incoming = _h.AddIncoming("shared");
        _h.Create("shared");

        Assert.That(_h.Retrieve("shared"), Is.SameAs(incoming));
    }

    // ---- RETRIEVE_FD ----

    [Test]
    [Description("docs/behaviour.md §4.4 step 3: a token the session does not hold is ENOENT")]
    public void RETRIEVE_FD_of_an_unknown_token_is_ENOENT() =>
        Assert.That(_h.Luo.RetrieveFile(_h.Incoming("in", (1, Memfd(1))), 2, out _), Is.EqualTo(Errno.ENOENT));

    [Test]
    [Description("docs/behaviour.md §4.4 step 4: a second retrieve returns the same file without restoring again")]
    public void RETRIEVE_FD_twice_returns_the_same_file()
    {
        FakeRestorableFile source = Memfd(1);
        Session session = _h.Incoming("in", (1, source));

        Assert.That(_h.Luo.RetrieveFile(session, 1, out IHeldFile? first), Is.EqualTo(Errno.None));
        Assert.That(_h.Luo.RetrieveFile(session, 1, out IHeldFile? second), Is.EqualTo(Errno.None));
        Assert.That(second, Is.SameAs(first));
        Assert.That(first, Is.SameAs(source.Restored.Single()));
        Assert.That(source.RestoreCalls, Is.EqualTo(1));
    }

    [Test]
    [Description("docs/behaviour.md §4.4 step 4: a failed retrieve is permanent: the same errno again, the handler not called again")]
    public void RETRIEVE_FD_failure_is_sticky()
    {
        FakeRestorableFile source = FakeRestorableFile.Failing(Errno.EIO);
        Session session = _h.Incoming("in", (1, source));

        Assert.That(_h.Luo.RetrieveFile(session, 1, out IHeldFile? file), Is.EqualTo(Errno.EIO));
        Assert.That(file, Is.Null);
        Assert.That(_h.Luo.RetrieveFile(session, 1, out _), Is.EqualTo(Errno.EIO));
        Assert.That(source.RestoreCalls, Is.EqualTo(1));
    }

    [Test]
    [Description("docs/behaviour.md §4.3 step 6, §4.4 step 4: a retrieved file cannot be preserved until its session is finished")]
    public void Retrieved_file_is_busy_until_FINISH()
    {
        Session incoming = _h.Incoming("in", (1, Memfd(50)));
        _h.Luo.RetrieveFile(incoming, 1, out _);
        Session outgoing = _h.Create("out");

        Assert.That(_h.Preserve(outgoing, 1, Facts.Memfd(50)), Is.EqualTo(Errno.EBUSY));
        Assert.That(_h.Luo.IsFrozen(Facts.Memfd(50).Identity), Is.False, "a retrieved file is not frozen");

        _h.Luo.Finish(incoming);

        Assert.That(_h.Preserve(outgoing, 1, Facts.Memfd(50)), Is.EqualTo(Errno.None));
    }

    [Test]
    [Description("a file retrieved while the same inode is preserved in an outgoing session (an in-place survivor preserved it again) leaves that preservation alone, through FINISH")]
    public void Retrieved_file_sharing_an_outgoing_inode_leaves_its_preservation()
    {
        Session outgoing = _h.Create("out");
        Assert.That(_h.Preserve(outgoing, 7, Facts.Memfd(50)), Is.EqualTo(Errno.None));
        Session incoming = _h.Incoming("in", (1, Memfd(50)));

        Assert.That(_h.Luo.RetrieveFile(incoming, 1, out _), Is.EqualTo(Errno.None));
        Assert.That(_h.Luo.IsFrozen(Facts.Memfd(50).Identity), Is.True, "still preserved (frozen) by the outgoing session");
        _h.Luo.Finish(incoming);

        Assert.That(_h.Luo.IsFrozen(Facts.Memfd(50).Identity), Is.True, "FINISH of the incoming session did not drop it");
        Assert.That(_h.Preserve(_h.Create("again"), 8, Facts.Memfd(50)), Is.EqualTo(Errno.EBUSY), "no double preservation");
    }

    // ---- FINISH ----

    [Test]
    [Description("docs/behaviour.md §4.5 step 4, §8.6: finish discards unretrieved files, drops LUO's reference to retrieved ones, leaves failed ones")]
    public void FINISH_releases_every_file_by_its_state()
    {
        FakeRestorableFile waiting = Memfd(1), retrieved = Memfd(2), failed = FakeRestorableFile.Failing(Errno.ENOMEM);
        Session session = _h.Incoming("in", (1, waiting), (2, retrieved), (3, failed));
        _h.Luo.RetrieveFile(session, 2, out _);
        _h.Luo.RetrieveFile(session, 3, out _);

        Assert.That(_h.Luo.Finish(session), Is.EqualTo(Errno.None));

        Assert.That(waiting.DiscardCalls, Is.EqualTo(1));
        Assert.That(retrieved.DiscardCalls, Is.Zero);
        Assert.That(retrieved.Restored.Single().Disposed, Is.True);
        Assert.That(failed.DiscardCalls, Is.Zero);
    }

    [Test]
    [Description("docs/behaviour.md §4.5: a second finish succeeds and does nothing")]
    public void FINISH_twice_is_a_no_op()
    {
        FakeRestorableFile source = Memfd(1);
        Session session = _h.Incoming("in", (1, source));
        _h.Luo.Finish(session);

        Assert.That(_h.Luo.Finish(session), Is.EqualTo(Errno.None));
        Assert.That(source.DiscardCalls, Is.EqualTo(1));
    }

    [TestCase(1ul)]
    [TestCase(2ul)]
    [Description("docs/behaviour.md §4.5, §6: after finish every token is ENOENT, retrieved or not")]
    public void RETRIEVE_FD_after_FINISH_is_ENOENT(ulong token)
    {
        Session session = _h.Incoming("in", (1, Memfd(1)), (2, Memfd(2)));
        _h.Luo.RetrieveFile(session, 1, out _);
        _h.Luo.Finish(session);

        Assert.That(_h.Luo.RetrieveFile(session, token, out _), Is.EqualTo(Errno.ENOENT));
    }

    [Test]
    [Description("docs/behaviour.md §4.5: a finished session stays retrieved until its fd is closed (RETRIEVE_SESSION is still EINVAL)")]
    public void Finished_session_stays_retrieved()
    {
        _h.Luo.Finish(_h.Incoming("in"));

        Assert.That(_h.Retrieve("in", out _), Is.EqualTo(Errno.EINVAL));
    }

    // ---- close of a retrieved session ----

    [Test]
    [Description("docs/behaviour.md §5.2: closing a retrieved session runs the finish and removes it (then RETRIEVE_SESSION is ENOENT)")]
    public void Closing_a_retrieved_session_finishes_and_removes_it()
    {
        FakeRestorableFile waiting = Memfd(1), retrieved = Memfd(2);
        Session session = _h.Incoming("in", (1, waiting), (2, retrieved));
        _h.Luo.RetrieveFile(session, 2, out _);

        _h.Luo.ReleaseSession(session);

        Assert.That(waiting.DiscardCalls, Is.EqualTo(1));
        Assert.That(retrieved.Restored.Single().Disposed, Is.True);
        Assert.That(_h.Retrieve("in", out _), Is.EqualTo(Errno.ENOENT));
        Assert.That(_h.Luo.Snapshot().Sessions, Is.Empty);
    }
}
