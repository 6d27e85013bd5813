using System.Text.RegularExpressions;
using LiveUpdateFs.Tests.Integration;

namespace LiveUpdateFs.Tests.Docs;

/// <summary>
/// What the citation check reads from the repository: the documents in docs/,
/// the source files that may cite them, and the test classes of this project.
/// </summary>
public static partial class CitedSources
{
    /// <summary>Top-level folders and files whose text may cite docs/.</summary>
    public static readonly string[] Roots =
        ["src", "tests", "scripts", "docker", "examples", "bench", "include", "contrib", "docs", "README.md", "Dockerfile"];

    private static readonly HashSet<string> SkippedFolders = ["bin", "obj", "artifacts", ".git"];

    /// <summary>The checker and its tests quote broken citations on purpose.</summary>
    public const string CheckerFolder = "tests/LiveUpdateFs.Tests/Docs/";

    public static IReadOnlyDictionary<string, DocOutline> Docs() =>
        Directory.GetFiles(Path.Combine(Repository.Root, "docs"), "*.md")
            .Select(file => DocOutline.Parse(Path.GetFileName(file), File.ReadAllText(file)))
            .ToDictionary(outline => outline.Name);

    /// <summary>Repository-relative paths ('/' separators) of every text file under <see cref="Roots"/>.</summary>
    public static IEnumerable<string> Files()
    {
        foreach (string root in Roots)
        {
            string full = Path.Combine(Repository.Root, root);
            IEnumerable<string> files = File.Exists(full) ? [full] : Directory.Exists(full) ? Walk(full) : [];
            foreach (string file in files.Where(IsText))
            {
                string relative = Path.GetRelativePath(Repository.Root, file).Replace(Path.DirectorySeparatorChar, '/');
                if (!relative.StartsWith(CheckerFolder, StringComparison.Ordinal))
                    yield return relative;
            }
        }
    }

    public static bool Exists(string relativePath) => Path.Exists(Path.Combine(Repository.Root, relativePath));

    /// <summary>
    /// A test class of tests/LiveUpdateFs.Tests and, when given, a member of
    /// it. Other identifiers the project declares with a name ending in Tests
    /// (`Repository.CTests`) are known too.
    /// </summary>
    public static Func<string, string?, bool> TestCatalog()
    {
        var sourcesByClass = new Dictionary<string, List<string>>();
        var declared = new HashSet<string>();
        foreach (string file in Walk(Path.Combine(Repository.Root, "tests", "LiveUpdateFs.Tests")).Where(f => f.EndsWith(".cs", StringComparison.Ordinal)))
        {
            string text = File.ReadAllText(file);
            foreach (Match m in ClassDeclaration().Matches(text))
                (sourcesByClass.TryGetValue(m.Groups[1].Value, out var list) ? list : sourcesByClass[m.Groups[1].Value] = []).Add(text);
            declared.UnionWith(MemberDeclaration().Matches(text).Select(m => m.Groups[1].Value));
        }
        var known = new Dictionary<(string, string?), bool>();
        return (type, member) => known.TryGetValue((type, member), out bool exists) ? exists
            : known[(type, member)] = sourcesByClass.TryGetValue(type, out var sources)
                ? member is null || sources.Any(text => Regex.IsMatch(text, $@"\b{Regex.Escape(member)}\b\s*(?:[(<{{;]|=(?!=))"))
                : member is null && declared.Contains(type);
    }

    private static IEnumerable<string> Walk(string folder)
    {
        foreach (string file in Directory.EnumerateFiles(folder))
            yield return file;
        foreach (string sub in Directory.EnumerateDirectories(folder).Where(d => !SkippedFolders.Contains(Path.GetFileName(d))))
        {
            foreach (string file in Walk(sub))
                yield return file;
        }
    }

    /// <summary>No NUL in the first 8 KiB: a text file.</summary>
    private static bool IsText(string file)
    {
        using FileStream stream = File.OpenRead(file);
        Span<byte> head = stackalloc byte[8192];
        int n = stream.Read(head);
        return !head[..n].Contains((byte)0);
    }

    [GeneratedRegex(@"\bclass\s+(\w+Tests)\b")]
    private static partial Regex ClassDeclaration();

    [GeneratedRegex(@"\b(\w+Tests)\s*(?:=>|=[^=>]|\{|\()")]
    private static partial Regex MemberDeclaration();
}
