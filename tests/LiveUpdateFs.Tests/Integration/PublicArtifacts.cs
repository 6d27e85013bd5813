namespace LiveUpdateFs.Tests.Integration;

/// <summary>
/// A copy of the build output that another user can execute, for tests that
/// run programs as another uid. The checkout itself may not be traversable by
/// them (root's home is 0700 on Debian, and so is a `mktemp -d` folder), so
/// those programs cannot run from artifacts/. The copy keeps artifacts/'s
/// layout (bin/, lib/, tests/c/): the daemon finds the preload library
/// beside itself as it does there.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class PublicArtifacts : IDisposable
{
    private const UnixFileMode Traversable =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
        UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private PublicArtifacts(string root) => Root = root;

    public string Root { get; }
    public string Daemon => Path.Combine(Root, "bin", "liveupdatefs");
    public string PreloadLibrary => Path.Combine(Root, "lib", "libliveupdate-preload.so");
    public string CTest(string name) => Path.Combine(Root, "tests", "c", name);

    /// <summary>Copies the daemon, the preload library and the C test programs.</summary>
    public static PublicArtifacts Copy()
    {
        Repository.RequireArtifacts();
        string root = Directory.CreateTempSubdirectory("liveupdatefs-public-").FullName;
        var copy = new PublicArtifacts(root);
        File.SetUnixFileMode(root, Traversable);
        copy.CopyFile(Repository.Daemon, copy.Daemon);
        copy.CopyFile(Repository.PreloadLibrary, copy.PreloadLibrary);
        foreach (string program in Directory.EnumerateFiles(Repository.CTests))
            copy.CopyFile(program, copy.CTest(Path.GetFileName(program)));
        return copy;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private void CopyFile(string from, string to)
    {
        for (string? dir = Path.GetDirectoryName(to); dir is not null && dir.Length > Root.Length; dir = Path.GetDirectoryName(dir))
        {
            Directory.CreateDirectory(dir);
            File.SetUnixFileMode(dir, Traversable);
        }
        File.Copy(from, to);
        File.SetUnixFileMode(to, Traversable);
    }
}
