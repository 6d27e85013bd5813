namespace LiveUpdateFs.Tests.Integration;

/// <summary>Runs programs as user 65534 (nobody) through setpriv, for the
/// tests of what an ordinary user can do and of what root must not trust
/// from one. The programs must be runnable by that user (<see cref="PublicArtifacts"/>).</summary>
public static class NobodyUser
{
    public const int Uid = 65534;

    /// <summary>Runs <paramref name="program"/> as nobody with HOME=<paramref name="home"/>
    /// and the device of HOME/mnt as LIVEUPDATE_DEVICE.</summary>
    public static ProcessResult Run(string home, string program, params string[] arguments) =>
        ProcessRunner.Run("/usr/bin/setpriv",
            ["--reuid", $"{Uid}", "--regid", $"{Uid}", "--clear-groups", "/usr/bin/env", $"HOME={home}", "XDG_RUNTIME_DIR=", "XDG_STATE_HOME=",
             $"LIVEUPDATE_DEVICE={Path.Combine(home, "mnt", "liveupdate")}", program, .. arguments],
            timeout: TimeSpan.FromSeconds(60));

    /// <summary>Gives <paramref name="path"/> to nobody.</summary>
    public static void Chown(string path) =>
        Assert.That(ProcessRunner.Run("/bin/chown", [$"{Uid}:{Uid}", path]).ExitCode, Is.Zero, $"chown nobody {path}");
}
