using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Tests.Core;

/// <summary>CREATE_SESSION in the orchestrator (docs/behaviour.md §4.1 steps 2-5).</summary>
[FixtureLifeCycle(LifeCycle.InstancePerTestCase)]
public class CreateSessionTests
{
    private readonly OrchestratorHarness _h = new();

    [Test]
    [Description("docs/behaviour.md §4.1 step 2: an empty name is EINVAL and creates nothing")]
    public void Empty_name_is_EINVAL()
    {
        Assert.That(_h.Create("", out Session? session), Is.EqualTo(Errno.EINVAL));
        Assert.That(session, Is.Null);
        Assert.That(_h.Luo.Snapshot().Sessions, Is.Empty);
    }

    [Test]
    [Description("docs/behaviour.md §4.1 step 2: a name field without NUL is EINVAL")]
    public void Unterminated_name_is_EINVAL() =>
        Assert.That(_h.Create(new string('u', 64), out _), Is.EqualTo(Errno.EINVAL));

    [Test]
    [Description("docs/behaviour.md §4.1 step 5, §6: a 63-byte name is accepted and kept whole")]
    public void Maximal_name_is_accepted()
    {
        string name = new('m', 63);

        Assert.That(_h.Create(name).Name.ToString(), Is.EqualTo(name));
    }

    [Test]
    [Description("docs/behaviour.md §4.1: the new session is outgoing")]
    public void New_session_is_outgoing() =>
        Assert.That(_h.Create("s").Kind, Is.EqualTo(SessionKind.Outgoing));

    [Test]
    [Description("docs/behaviour.md §4.1 step 5: a duplicate outgoing name is EEXIST")]
    public void Duplicate_name_is_EEXIST()
    {
        _h.Create("dup");

        Assert.That(_h.Create("dup", out _), Is.EqualTo(Errno.EEXIST));
    }

    [Test]
    [Description("docs/behaviour.md §4.1 steps 2 and 5: bytes after the NUL do not make a name different")]
    public void Bytes_after_the_NUL_do_not_count()
    {
        _h.Create("dup");

        Assert.That(_h.Create("dup\0other", out _), Is.EqualTo(Errno.EEXIST));
    }

    [Test]
    [Description("docs/behaviour.md §5.2: closing an outgoing session frees its name")]
    public void Name_is_free_again_after_release()
    {
        _h.Luo.ReleaseSession(_h.Create("again"));

        Assert.That(_h.Create("again", out _), Is.EqualTo(Errno.None));
    }

    [Test]
    [Description("docs/behaviour.md §4.1 step 5: an outgoing session may have the name of an incoming one")]
    public void Name_of_an_incoming_session_is_accepted()
    {
        _h.AddIncoming("shared");

        Assert.That(_h.Create("shared", out _), Is.EqualTo(Errno.None));
    }
}
