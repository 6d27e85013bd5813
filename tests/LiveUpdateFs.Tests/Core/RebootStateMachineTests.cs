using LiveUpdateFs.Core.Reboot;
using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Tests.Fakes;
using LiveUpdateFs.Uapi;
using Serilog.Core;

namespace LiveUpdateFs.Tests.Core;

/// <summary>The reboot's one owner (README "How a reboot runs"): every request
/// checked against the phase before anything is written.</summary>
[FixtureLifeCycle(LifeCycle.InstancePerTestCase)]
public class RebootStateMachineTests
{
    private readonly OrchestratorHarness _h = new();
    private readonly FakeHandoverTarget _target = new();
    private long _now = 1_000;
    private readonly RebootStateMachine _machine;

    public RebootStateMachineTests()
    {
        _machine = new RebootStateMachine(_h.Luo, _target, TimeSpan.FromSeconds(30), Logger.None, () => _now);
        Session session = _h.Create("vm");
        Assert.That(_h.Preserve(session, 1, Facts.Memfd(77)), Is.EqualTo(Errno.None));
    }

    private Errno Freeze(FakeRebootClient client, RebootMode mode = RebootMode.InPlace) =>
        _machine.Freeze(mode, client, progress: null, out _);

    [Test]
    [Description("a second FREEZE while frozen is EBUSY and asks the store for nothing; the first reboot then commits its own image")]
    public void A_second_freeze_is_refused_before_the_store_is_touched()
    {
        var first = new FakeRebootClient(100);
        Assert.That(Freeze(first), Is.EqualTo(Errno.None));
        var second = new FakeRebootClient(200);

        Assert.That(Freeze(second, RebootMode.Durable), Is.EqualTo(Errno.EBUSY));

        Assert.That(_target.Images, Has.Count.EqualTo(1), "no second image was started");
        Assert.That(second.Disposed, Is.True);
        Assert.That(_machine.Restart(200), Is.EqualTo(Errno.EBUSY), "only the freeze's owner may restart");
        Assert.That(_machine.Restart(100), Is.EqualTo(Errno.None));
        Assert.That(_target.Images[0].Image.Published, Is.True);
        Assert.That(_machine.Phase, Is.EqualTo(RebootPhase.Committed));
        Assert.That(Freeze(new FakeRebootClient(300)), Is.EqualTo(Errno.EBUSY), "a committed boot takes no freeze");
        Assert.That(_machine.Restart(100), Is.EqualTo(Errno.EBUSY));
    }

    [Test]
    [Description("a freeze whose client ended is called off: the image is dropped, the boot serves again, a new reboot works")]
    public void A_freeze_whose_client_ended_thaws()
    {
        var client = new FakeRebootClient(100);
        Assert.That(Freeze(client), Is.EqualTo(Errno.None));
        Assert.That(_machine.ThawIfAbandoned(), Is.False, "the client is alive and in time");

        client.HasExited = true;

        Assert.That(_machine.ThawIfAbandoned(), Is.True);
        Assert.That(_machine.Phase, Is.EqualTo(RebootPhase.Serving));
        Assert.That(_h.Luo.Frozen, Is.False);
        Assert.That(_target.Images[0].Image.Aborted, Is.True);
        Assert.That(client.Disposed, Is.True);
        Assert.That(Freeze(new FakeRebootClient(101)), Is.EqualTo(Errno.None), "a retry freezes again");
        Assert.That(_target.Images[1].Image.Records, Is.EqualTo(_target.Images[0].Image.Records), "nothing was lost");
    }

    [Test]
    [Description("a freeze whose client stays silent past the timeout thaws")]
    public void A_silent_freeze_thaws_at_the_timeout()
    {
        Assert.That(Freeze(new FakeRebootClient(100)), Is.EqualTo(Errno.None));
        _now += 29_999;
        Assert.That(_machine.ThawIfAbandoned(), Is.False);
        _now += 1;

        Assert.That(_machine.ThawIfAbandoned(), Is.True);
        Assert.That(_machine.Phase, Is.EqualTo(RebootPhase.Serving));
        Assert.That(_machine.Restart(100), Is.EqualTo(Errno.EINVAL), "the late restart finds nothing frozen");
    }

    [Test]
    [Description("a session fd closed while frozen is released when the reboot is called off, not before")]
    public void A_session_closed_while_frozen_is_released_at_the_thaw()
    {
        Session other = _h.Create("other");
        var client = new FakeRebootClient(100);
        Assert.That(Freeze(client), Is.EqualTo(Errno.None));

        _h.Luo.ReleaseSession(other);
        Assert.That(_h.Luo.Snapshot().Sessions.Select(s => s.Name), Does.Contain("other"), "held while frozen");
        client.HasExited = true;
        _machine.ThawIfAbandoned();

        Assert.That(_h.Luo.Snapshot().Sessions.Select(s => s.Name), Is.EqualTo(new[] { "vm" }));
    }

    [Test]
    [Description("a failed commit at the restart thaws the boot and returns the error")]
    public void A_failed_commit_thaws()
    {
        var target = new FakeHandoverTarget(() => new FakeHandoverImage(publishResult: Errno.EIO));
        var machine = new RebootStateMachine(_h.Luo, target, TimeSpan.FromSeconds(30), Logger.None, () => _now);
        Assert.That(machine.Freeze(RebootMode.Durable, new FakeRebootClient(100), null, out _), Is.EqualTo(Errno.None));

        Assert.That(machine.Restart(100), Is.EqualTo(Errno.EIO));

        Assert.That(machine.Phase, Is.EqualTo(RebootPhase.Serving));
        Assert.That(_h.Luo.Frozen, Is.False);
        Assert.That(target.Images[0].Image.Aborted, Is.True);
    }

    [TestCase(RebootMode.Durable, 1)]
    [TestCase(RebootMode.InPlace, 2)]
    [Description("a stop while frozen hands the sessions over durably: a durable image is committed as it is, an in-place one is written again durably")]
    public void A_stop_while_frozen_commits_durably(RebootMode mode, int images)
    {
        Assert.That(Freeze(new FakeRebootClient(100), mode), Is.EqualTo(Errno.None));

        StopOutcome stopped = _machine.Stop();

        Assert.That(stopped.Result, Is.EqualTo(Errno.None));
        Assert.That(stopped.Restart, Is.Null);
        Assert.That(stopped.Summary.Files, Is.EqualTo(1));
        Assert.That(_target.Images, Has.Count.EqualTo(images));
        Assert.That(_target.Images[^1].Image.Published, Is.True);
        Assert.That(_target.Images[^1].Mode, Is.EqualTo(mode == RebootMode.InPlace && images == 2 ? RebootMode.Durable : mode));
    }

    [Test]
    [Description("a session whose fd never reached its creator is not handed over")]
    public void A_session_never_held_is_not_frozen()
    {
        Assert.That(_h.Create("phantom", out Session? _), Is.EqualTo(Errno.None)); // no SessionHeld: the creator died first

        Assert.That(Freeze(new FakeRebootClient(100)), Is.EqualTo(Errno.None));

        Assert.That(_target.Images[0].Image.Records, Is.EqualTo(new[] { "begin 1", "session vm", "file 1" }));
    }
}
