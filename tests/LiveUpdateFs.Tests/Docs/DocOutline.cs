using System.Text.RegularExpressions;

namespace LiveUpdateFs.Tests.Docs;

/// <summary>
/// The numbered sections of one document in docs/ and the numbered steps of
/// each (docs/README.md §2): `## N. Title`, `### N.M Title`, and a
/// step is a top-level `K. ` list item in a section's own text, before its
/// first subsection.
/// </summary>
public sealed partial class DocOutline
{
    private readonly Dictionary<string, HashSet<int>> _steps = [];
    private readonly List<string> _numberingProblems = [];

    private DocOutline(string name) => Name = name;

    /// <summary>The file name in docs/, e.g. "behaviour.md".</summary>
    public string Name { get; }

    /// <summary>Headings that are not numbered, or not in order (with their line).</summary>
    public IReadOnlyList<string> NumberingProblems => _numberingProblems;

    public bool HasSection(string section) => _steps.ContainsKey(section);

    public bool HasStep(string section, int step) => _steps.TryGetValue(section, out var steps) && steps.Contains(step);

    public static DocOutline Parse(string name, string text)
    {
        var outline = new DocOutline(name);
        string? current = null;
        int chapter = 0, subsection = 0;
        bool inCode = false;
        string[] lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].TrimEnd('\r');
            if (line.StartsWith("```", StringComparison.Ordinal))
                inCode = !inCode;
            if (inCode)
                continue;
            if (line.StartsWith("## ", StringComparison.Ordinal))
            {
                Match m = ChapterHeading().Match(line);
                if (!m.Success)
                {
                    outline._numberingProblems.Add($"{name}:{i + 1}: heading without a number: {line}");
                    current = null;
                    continue;
                }
                int n = int.Parse(m.Groups[1].Value);
                if (n != chapter + 1)
                    outline._numberingProblems.Add($"{name}:{i + 1}: section {n} follows section {chapter}");
                chapter = n;
                subsection = 0;
                current = n.ToString();
                outline._steps[current] = [];
            }
            else if (line.StartsWith("### ", StringComparison.Ordinal))
            {
                Match m = SubsectionHeading().Match(line);
                if (!m.Success || int.Parse(m.Groups[1].Value) != chapter)
                {
                    outline._numberingProblems.Add($"{name}:{i + 1}: a subsection of section {chapter} must be numbered {chapter}.M: {line}");
                    current = null;
                    continue;
                }
                int n = int.Parse(m.Groups[2].Value);
                if (n != subsection + 1)
                    outline._numberingProblems.Add($"{name}:{i + 1}: subsection {chapter}.{n} follows {chapter}.{subsection}");
                subsection = n;
                current = $"{chapter}.{n}";
                outline._steps[current] = [];
            }
            else if (current is not null && StepItem().Match(line) is { Success: true } step)
            {
                outline._steps[current].Add(int.Parse(step.Groups[1].Value));
            }
        }
        return outline;
    }

    [GeneratedRegex(@"^## (\d+)\. \S")]
    private static partial Regex ChapterHeading();

    [GeneratedRegex(@"^### (\d+)\.(\d+) \S")]
    private static partial Regex SubsectionHeading();

    [GeneratedRegex(@"^(\d+)\. ")]
    private static partial Regex StepItem();
}
