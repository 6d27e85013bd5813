using System.Diagnostics;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Interop.Seccomp;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Tests.Interop;

/// <summary>The pieces of the seccomp path that ask the kernel
/// about another process (docs/seccomp.md).</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class SeccompInteropTests
{
    /// <summary>A `sleep` with fds 0-2 open, <paramref name="extra"/> fds opened
    /// by the shell too, and then RLIMIT_NOFILE lowered to <paramref name="limit"/>
    /// while it runs (a dynamically linked program could not start under it).</summary>
    private static Process Sleeper(string extra, int limit)
    {
        var child = Process.Start(new ProcessStartInfo("/bin/sh", ["-c", $"exec 0</dev/null 1>/dev/null 2>/dev/null {extra}; exec sleep 30"]) { UseShellExecute = false })!;
        for (int i = 0; i < 200 && ProcFs.ReadText($"/proc/{child.Id}/comm")?.Trim() != "sleep"; i++)
            Thread.Sleep(10);
        using Process prlimit = Process.Start(new ProcessStartInfo("prlimit", ["--pid", child.Id.ToString(), $"--nofile={limit}"]) { UseShellExecute = false })!;
        prlimit.WaitForExit();
        Assert.That(prlimit.ExitCode, Is.Zero, "prlimit (util-linux) lowers the child's limit");
        return child;
    }

    [TestCase("", 3, "EMFILE", Description = "fds 0-2 fill a limit of 3")]
    [TestCase("", 4, "OK", Description = "one number below the limit is free")]
    [TestCase("9</dev/null", 4, "OK", Description = "fd 9 lies above the limit: numbers 0-3 still have one free (a count of open fds would say EMFILE)")]
    [TestCase("3</dev/null", 4, "EMFILE", Description = "0-3 all taken")]
    public void The_reserve_step_asks_for_a_free_number_below_the_callers_limit(string extra, int limit, string expected)
    {
        using Process child = Sleeper(extra, limit);
        try
        {
            Assert.That(FdSlots.Reserve(child.Id).Name, Is.EqualTo(expected));
        }
        finally
        {
            child.Kill();
            child.WaitForExit();
        }
    }

    [Test]
    public void The_reserve_step_of_a_process_that_is_gone_is_ESRCH()
    {
        using Process child = Process.Start(new ProcessStartInfo("/bin/true") { UseShellExecute = false })!;
        child.WaitForExit();

        Assert.That(FdSlots.Reserve(child.Id), Is.EqualTo(Errno.ESRCH));
    }

    [Test]
    [Description("docs/seccomp.md: the daemon serves only seccomp listeners; any other fd handed to it is refused")]
    public void Only_a_seccomp_listener_is_adopted()
    {
        (Errno error, SafeFd? fd) = FileOps.OpenRead("/dev/null");
        Assert.That(error, Is.EqualTo(Errno.None));
        using (fd)
            Assert.That(SeccompListener.Adopt(fd!), Is.Null);
    }
}
