using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Tests.Fakes;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Tests.Core;

/// <summary>The status snapshot: what the daemon reports about its state.</summary>
[FixtureLifeCycle(LifeCycle.InstancePerTestCase)]
public class SnapshotTests
{
    private readonly OrchestratorHarness _h = new();

    [Test]
    [Description("docs/behaviour.md §3: the snapshot shows whether the device is open")]
    public void Snapshot_shows_the_device_flag()
    {
        Assert.That(_h.Luo.Snapshot().DeviceOpen, Is.False);
        _h.Luo.OpenDevice();
        Assert.That(_h.Luo.Snapshot().DeviceOpen, Is.True);
    }

    [Test]
    [Description("docs/behaviour.md §4.1, §4.2: outgoing sessions in creation order, then incoming ones, with their kind")]
    public void Snapshot_lists_sessions_with_their_kind()
    {
        _h.AddIncoming("old");
        _h.Incoming("taken");
        _h.Create("b");
        _h.Create("a");

        Assert.That(_h.Luo.Snapshot().Sessions.Select(s => (s.Name, s.Kind)), Is.EqualTo(new[]
        {
            ("b", "outgoing"), ("a", "outgoing"), ("old", "incoming"), ("taken", "retrieved"),
        }));
    }

    [Test]
    [Description("docs/behaviour.md §4.3: a preserved file shows its token, handler and size")]
    public void Snapshot_shows_preserved_files()
    {
        _h.Preserve(_h.Create("s"), 9, Facts.Memfd(1, size: 8192));

        Assert.That(_h.Luo.Snapshot().Sessions.Single().Files.Single(), Is.EqualTo(new FileSnapshot(9, "memfd-v2", 8192, "preserved")));
    }

    [Test]
    [Description("docs/behaviour.md §4.4, §8.3: incoming files show their recorded size and whether they wait, were retrieved, or failed")]
    public void Snapshot_shows_incoming_file_states()
    {
        Session session = _h.Incoming("in",
            (1, new FakeRestorableFile(Facts.Memfd(1, size: 100))),
            (2, new FakeRestorableFile(Facts.Memfd(2, size: 4096))),
            (3, FakeRestorableFile.Failing(Errno.EIO)));
        _h.Luo.RetrieveFile(session, 2, out _);
        _h.Luo.RetrieveFile(session, 3, out _);

        Assert.That(_h.Luo.Snapshot().Sessions.Single().Files.Select(f => (f.Token, f.Size, f.State)), Is.EqualTo(new[]
        {
            (1ul, 100L, "waiting"), (2ul, 4096L, "retrieved"), (3ul, 4096L, "failed (EIO)"),
        }));
    }

    [Test]
    [Description("docs/behaviour.md §5.1: session names are reported escaped")]
    public void Snapshot_escapes_names()
    {
        _h.Create("a\\b");

        Assert.That(_h.Luo.Snapshot().Sessions.Single().Name, Is.EqualTo(@"a\x5cb"));
    }
}
