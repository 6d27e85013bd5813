using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Core.Reboot;
using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Tests.Fakes;
using LiveUpdateFs.Uapi;
using Serilog.Core;

namespace LiveUpdateFs.Tests.Core;

/// <summary>docs/behaviour.md §3: the first open of the device rebuilds the incoming sessions.</summary>
public class DeserializeTests
{
    private static IncomingSessionImage Image(string name, string compatible = "memfd-v2") =>
        new(SessionName.FromString(name), [new IncomingFileImage(1, compatible, new FakeRestorableFile(Facts.Memfd(1)))]);

    private static Orchestrator With(FakeIncomingSource source) => new([new MemfdHandler()], Logger.None, source);

    [Test]
    [Description("docs/behaviour.md §3: nothing is rebuilt before the first open; the first open loads once")]
    public void First_open_loads_once()
    {
        var source = new FakeIncomingSource(default, Image("a"), Image("b"));
        Orchestrator luo = With(source);
        Assert.That(luo.Snapshot().Sessions, Is.Empty);

        Assert.That(luo.OpenDevice(), Is.EqualTo(Errno.None));
        luo.ReleaseDevice();
        Assert.That(luo.OpenDevice(), Is.EqualTo(Errno.None));

        Assert.That(source.Loads, Is.EqualTo(1));
        Assert.That(luo.Snapshot().Sessions.Select(s => (s.Name, s.Kind)), Is.EqualTo(new[] { ("a", "incoming"), ("b", "incoming") }));
        Assert.That(luo.RetrieveSession(Structs.NameField("b"), out _), Is.EqualTo(Errno.None));
    }

    [Test]
    [Description("docs/behaviour.md §3: a failed deserialization is EIO for that open and every later one; the busy flag is dropped")]
    public void Failed_load_is_a_sticky_EIO()
    {
        var source = new FakeIncomingSource(Errno.EIO);
        Orchestrator luo = With(source);

        Assert.That(luo.OpenDevice(), Is.EqualTo(Errno.EIO));
        Assert.That(luo.OpenDevice(), Is.EqualTo(Errno.EIO));
        Assert.That(luo.Snapshot().DeviceOpen, Is.False);
        Assert.That(source.Loads, Is.EqualTo(1), "the result is cached");
    }

    [Test]
    [Description("docs/behaviour.md §3: a file whose compatible no handler knows fails the deserialization (EIO)")]
    public void Unknown_compatible_is_EIO()
    {
        Orchestrator luo = With(new FakeIncomingSource(default, Image("a"), Image("b", compatible: "memfd-v1")));

        Assert.That(luo.OpenDevice(), Is.EqualTo(Errno.EIO));
        Assert.That(luo.OpenDevice(), Is.EqualTo(Errno.EIO));
    }

    [Test]
    [Description("docs/behaviour.md §3: the first open marks the handover consumed once, before it succeeds; later opens do not mark again")]
    public void First_open_marks_the_handover_consumed_once()
    {
        var source = new FakeIncomingSource(default, Image("a"));
        Orchestrator luo = With(source);

        Assert.That(luo.OpenDevice(), Is.EqualTo(Errno.None));
        luo.ReleaseDevice();
        Assert.That(luo.OpenDevice(), Is.EqualTo(Errno.None));

        Assert.That(source.Marks, Is.EqualTo(1));
    }

    [Test]
    [Description("docs/behaviour.md §3: a handover that cannot be marked consumed fails the open with EIO and offers nothing; the next open tries again")]
    public void Failed_consumed_mark_is_EIO_for_that_open_only()
    {
        var source = new FakeIncomingSource(default, Image("a")) { FailingMarks = 1 };
        Orchestrator luo = With(source);

        Assert.That(luo.OpenDevice(), Is.EqualTo(Errno.EIO));
        Assert.That(luo.Snapshot().Sessions, Is.Empty, "nothing handed over");
        Assert.That(luo.Snapshot().IncomingLoaded, Is.False);
        Assert.That(luo.Snapshot().DeviceOpen, Is.False);

        Assert.That(luo.OpenDevice(), Is.EqualTo(Errno.None));
        Assert.That(source.Marks, Is.EqualTo(1));
        Assert.That(luo.Snapshot().Sessions.Select(s => s.Name), Is.EqualTo(new[] { "a" }), "exactly once, not twice");
        Assert.That(luo.RetrieveSession(Structs.NameField("a"), out _), Is.EqualTo(Errno.None));
    }

    [Test]
    [Description("docs/behaviour.md §3: a deserialization that fails its checks consumes nothing")]
    public void Unknown_compatible_is_not_marked_consumed()
    {
        var source = new FakeIncomingSource(default, Image("a"), Image("b", compatible: "memfd-v1"));
        Orchestrator luo = With(source);

        Assert.That(luo.OpenDevice(), Is.EqualTo(Errno.EIO));
        Assert.That(source.Marks, Is.Zero);
    }

    [Test]
    [Description("docs/behaviour.md §3: the busy check comes first: a second open while the first is alive is EBUSY, not a second load")]
    public void Busy_check_comes_before_the_load()
    {
        var source = new FakeIncomingSource(default, Image("a"));
        Orchestrator luo = With(source);
        Assert.That(luo.OpenDevice(), Is.EqualTo(Errno.None));

        Assert.That(luo.OpenDevice(), Is.EqualTo(Errno.EBUSY));
        Assert.That(source.Loads, Is.EqualTo(1));
    }

    [Test]
    [Description("docs/behaviour.md §4.4, §8.3: a waiting incoming file shows its compatible and recorded size")]
    public void Incoming_files_show_their_record()
    {
        Orchestrator luo = With(new FakeIncomingSource(default, Image("a")));
        luo.OpenDevice();

        Assert.That(luo.Snapshot().Sessions.Single().Files.Single(), Is.EqualTo(new FileSnapshot(1, "memfd-v2", 4096, "waiting")));
    }
}
