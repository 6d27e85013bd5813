namespace LiveUpdateFs.Tests.Integration;

/// <summary>Paths of the repository and of what ./scripts/setup built.</summary>
public static class Repository
{
    public static string Root { get; } = FindRoot();

    public static string Artifacts => Path.Combine(Root, "artifacts");
    public static string Daemon => Path.Combine(Artifacts, "bin", "liveupdatefs");
    public static string PreloadLibrary => Path.Combine(Artifacts, "lib", "libliveupdate-preload.so");
    public static string CTests => Path.Combine(Artifacts, "tests", "c");
    public static string FuzzClient => Path.Combine(Artifacts, "tests", "fuzz", "luo_fuzz");

    /// <summary>Fails (never skips) when the build output is missing.</summary>
    public static void RequireArtifacts()
    {
        foreach (string path in new[] { Daemon, PreloadLibrary, CTests })
        {
            if (!Path.Exists(path))
                Assert.Fail($"{path} is missing: run ./scripts/setup (./scripts/test does it first)");
        }
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "LiveUpdateFs.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException("LiveUpdateFs.sln not found above the test assembly");
    }
}
