using System.Text.RegularExpressions;

namespace LiveUpdateFs.Tests.Integration;

/// <summary>Reads the "N passed, M failed" summary of the C programs (tests/c/tap.h).</summary>
public static partial class Tap
{
    public static void AssertAllPassed(ProcessResult result, string program, MountedEmulator emulator)
    {
        TestContext.Out.WriteLine($"--- {program}\n{result.Output}");
        Assert.That(result.TimedOut, Is.False, $"{program} did not finish: a request got no reply?\n{emulator.LogTail()}");
        Match summary = Summary().Match(result.Output);
        Assert.That(summary.Success, Is.True, $"{program} printed no 'N passed, M failed' line (crashed?)\n{result.Output}\n{emulator.LogTail()}");
        int passed = int.Parse(summary.Groups[1].Value);
        int failed = int.Parse(summary.Groups[2].Value);
        Assert.Multiple(() =>
        {
            Assert.That(failed, Is.Zero, $"{program}: {failed} case(s) failed:\n{string.Join('\n', result.Output.Split('\n').Where(l => l.StartsWith("not ok")))}\n{emulator.LogTail()}");
            Assert.That(passed, Is.Positive, $"{program} ran no case");
            Assert.That(result.ExitCode, Is.Zero, $"{program} exited with {result.ExitCode}");
        });
    }

    [GeneratedRegex(@"^(\d+) passed, (\d+) failed$", RegexOptions.Multiline)]
    private static partial Regex Summary();
}
