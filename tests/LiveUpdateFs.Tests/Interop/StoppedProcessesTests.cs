using System.Diagnostics;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Tests.Interop;

/// <summary>The stop that makes a durable snapshot one instant.
/// Processes stopped here are continued here; one stopped by someone else
/// stays stopped.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class StoppedProcessesTests
{
    [Test]
    public void A_stopped_process_is_waited_for_and_continued()
    {
        using Process child = Process.Start(new ProcessStartInfo("/bin/sleep", "30") { UseShellExecute = false })!;
        try
        {
            using var stopped = new StoppedProcesses();

            Assert.That(stopped.Stop(child.Id, _ => true), Is.EqualTo((StoppedProcesses.Outcome.Stopped, Errno.None)));
            Assert.That(stopped.WaitUntilStopped(TimeSpan.FromSeconds(5)), Is.Empty, "every thread stops");
            Assert.That(ProcFs.StateOf($"/proc/{child.Id}/stat"), Is.EqualTo('T'));

            Assert.That(stopped.Resume(_ => true), Is.EqualTo(new[] { child.Id }));
            Assert.That(WaitForState(child.Id, s => s is not 'T'), Is.AnyOf('S', 'R'), "running (sleeping) again");
        }
        finally
        {
            child.Kill();
        }
    }

    [Test]
    public void A_process_someone_else_stopped_stays_stopped()
    {
        using Process child = Process.Start(new ProcessStartInfo("/bin/sleep", "30") { UseShellExecute = false })!;
        try
        {
            using (ProcessPin pin = ProcessPin.Of(child.Id)!)
                Assert.That(pin.Stop(), Is.EqualTo(Errno.None));
            Assert.That(WaitForState(child.Id, s => s is 'T'), Is.EqualTo('T'));

            using (var stopped = new StoppedProcesses())
            {
                Assert.That(stopped.Stop(child.Id, _ => true).Outcome, Is.EqualTo(StoppedProcesses.Outcome.AlreadyStopped));
                Assert.That(stopped.WaitUntilStopped(TimeSpan.FromSeconds(5)), Is.Empty);
                Assert.That(stopped.Resume(_ => true), Is.Empty, "not ours to continue");
            }
            Thread.Sleep(50);
            Assert.That(ProcFs.StateOf($"/proc/{child.Id}/stat"), Is.EqualTo('T'), "still stopped after the set is gone");
        }
        finally
        {
            child.Kill();
        }
    }

    [Test]
    public void A_process_that_no_longer_qualifies_is_left_alone()
    {
        using Process child = Process.Start(new ProcessStartInfo("/bin/sleep", "30") { UseShellExecute = false })!;
        try
        {
            using var stopped = new StoppedProcesses();
            Assert.That(stopped.Stop(child.Id, _ => false).Outcome, Is.EqualTo(StoppedProcesses.Outcome.Gone));
            Assert.That(stopped.Pids, Is.Empty);
            Assert.That(ProcFs.StateOf($"/proc/{child.Id}/stat"), Is.AnyOf('S', 'R'), "not stopped");
        }
        finally
        {
            child.Kill();
        }
    }

    [Test]
    public void Memfd_users_are_found_by_their_open_fd_and_nobody_else()
    {
        var (error, memfd) = MemfdOps.Create();
        Assert.That(error, Is.EqualTo(Errno.None));
        using (memfd)
        {
            using Process other = Process.Start(new ProcessStartInfo("/bin/sleep", "30") { UseShellExecute = false })!;
            try
            {
                var (usersError, users) = MemfdUsers.Of([memfd!]);
                Assert.That(usersError, Is.EqualTo(Errno.None));
                Assert.That(users!.AreUsedBy(Environment.ProcessId), Is.True, "this process holds it");
                Assert.That(users.AreUsedBy(other.Id), Is.False, "sleep never had it (MFD_CLOEXEC)");
            }
            finally
            {
                other.Kill();
            }
        }
    }

    private static char? WaitForState(int pid, Func<char?, bool> wanted)
    {
        char? state = null;
        for (int i = 0; i < 500; i++)
        {
            state = ProcFs.StateOf($"/proc/{pid}/stat");
            if (wanted(state))
                break;
            Thread.Sleep(10);
        }
        return state;
    }
}
