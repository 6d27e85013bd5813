using LiveUpdateFs.Tests.Fakes;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Tests.Core;

/// <summary>The single-open /dev/liveupdate (docs/behaviour.md §3).</summary>
[FixtureLifeCycle(LifeCycle.InstancePerTestCase)]
public class DeviceTests
{
    private readonly OrchestratorHarness _h = new();

    [Test]
    [Description("docs/behaviour.md §3: a second open while the first open file is alive is refused (EBUSY)")]
    public void Second_open_is_refused()
    {
        Assert.That(_h.Luo.OpenDevice(), Is.EqualTo(Errno.None));
        Assert.That(_h.Luo.OpenDevice(), Is.EqualTo(Errno.EBUSY));
    }

    [Test]
    [Description("docs/behaviour.md §3: the release of the open file clears the busy flag")]
    public void Open_after_release_succeeds()
    {
        _h.Luo.OpenDevice();
        _h.Luo.ReleaseDevice();

        Assert.That(_h.Luo.OpenDevice(), Is.EqualTo(Errno.None));
    }

    [Test]
    [Description("docs/behaviour.md §3: closing the device does not affect sessions or preserved files")]
    public void ReleaseDevice_keeps_sessions()
    {
        _h.Luo.OpenDevice();
        var session = _h.Create("kept");
        _h.Preserve(session, 1, Facts.Memfd(10));

        _h.Luo.ReleaseDevice();

        Assert.That(_h.Luo.Snapshot().Sessions.Single().Files, Has.Count.EqualTo(1));
        Assert.That(_h.Luo.IsFrozen(Facts.Memfd(10).Identity), Is.True);
    }
}
