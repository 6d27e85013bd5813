namespace LiveUpdateFs.Host;

/// <summary>This program, to start again as the daemon (`mount`'s background
/// start, the in-place reboot's exec).</summary>
public static class ThisProgram
{
    public static string Executable => Environment.ProcessPath ?? throw new InvalidOperationException("cannot find this program's path");

    /// <summary>Arguments needed before the command when running as `dotnet liveupdatefs.dll`.</summary>
    public static IEnumerable<string> ArgumentsBeforeCommand =>
        Path.GetFileNameWithoutExtension(Executable) == "dotnet"
            ? [Path.Combine(AppContext.BaseDirectory, "liveupdatefs.dll")]
            : [];
}
