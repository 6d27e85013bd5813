using System.Diagnostics;
using LiveUpdateFs.Interop;

namespace LiveUpdateFs.Tests.Interop;

/// <summary>A pinned requester is recognised only while it
/// runs; once it exited, its pid names nobody the daemon will serve.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ProcessPinTests
{
    [Test]
    public void A_pin_knows_its_process_until_it_exits()
    {
        using Process child = Process.Start(new ProcessStartInfo("/bin/sleep", "30") { UseShellExecute = false })!;
        using ProcessPin pin = ProcessPin.Of(child.Id)!;
        Assert.That(pin.Is(child.Id), Is.True);
        Assert.That(pin.Is(child.Id + 1), Is.False, "another pid is another process");

        child.Kill();
        child.WaitForExit();

        Assert.That(pin.HasExited, Is.True);
        Assert.That(pin.Is(child.Id), Is.False, "whoever gets this pid next is not the requester");
    }

    [Test]
    public void A_process_that_is_gone_cannot_be_pinned()
    {
        using Process child = Process.Start(new ProcessStartInfo("/bin/true") { UseShellExecute = false })!;
        child.WaitForExit(); // reaped: the pid is free

        Assert.That(ProcessPin.Of(child.Id), Is.Null);
    }
}
