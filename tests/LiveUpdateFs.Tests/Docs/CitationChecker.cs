using System.Text.RegularExpressions;

namespace LiveUpdateFs.Tests.Docs;

/// <summary>
/// Checks the citations in one source file against the documents in docs/
/// (the forms are in docs/README.md §2):
/// `docs/NAME.md §N[.M][ step K]` must name an existing document, section and
/// step; a § must belong to a named document; no document outside the
/// repository may be cited; the C tests' section labels ("4.3", `[§4.3]`) are
/// sections of docs/behaviour.md; a name ending in Tests must be a test class
/// of the test project (and Class.Member one of its tests).
/// </summary>
public sealed partial class CitationChecker(
    IReadOnlyDictionary<string, DocOutline> docs,
    Func<string, bool> repositoryFileExists,
    Func<string, string?, bool> testExists)
{
    /// <summary>The document C tests' section labels name.</summary>
    public const string LabelDocument = "behaviour.md";

    /// <summary>How many lines above a wrapped comment's § may name its document.</summary>
    private const int WrapLines = 2;

    private enum MentionKind
    {
        Doc,        // docs/NAME.md (or a sibling, inside docs/)
        Outside,    // not in the repository
        OtherFile,  // a file of the repository that is not a document of docs/
    }

    /// <param name="Bare">A document of docs/ named without "docs/" outside docs/.</param>
    private readonly record struct Mention(int Start, int End, MentionKind Kind, string Name, bool Bare = false);

    /// <param name="path">Repository-relative, with '/' separators.</param>
    public IReadOnlyList<CitationViolation> Check(string path, string text)
    {
        var found = new List<CitationViolation>();
        bool inDocs = path.StartsWith("docs/", StringComparison.Ordinal);
        bool isCTest = path.StartsWith("tests/", StringComparison.Ordinal) && (path.EndsWith(".c") || path.EndsWith(".h"));
        string[] lines = text.Split('\n');
        var recent = new Queue<Mention?>(); // the last mention of each of the lines above, for wrapped comments
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i];
            int number = i + 1;
            void Add(CitationRule rule, string message) => found.Add(new CitationViolation(path, number, rule, message));

            List<Mention> mentions = MentionsIn(path, line, inDocs);
            CheckDocuments(line, mentions, Add);
            foreach (Match label in TapLabel().Matches(line))
                CheckLabel(label.Groups[1].Value, Add);
            if (isCTest)
            {
                foreach (Match label in CLabel().Matches(line))
                    CheckLabel(label.Groups[1].Value, Add);
            }
            Mention? above = recent.LastOrDefault(m => m is not null);
            CheckSections(line, mentions, inDocs ? new Mention(0, 0, MentionKind.Doc, path["docs/".Length..]) : null, above, Add);
            CheckTestNames(line, Add);

            recent.Enqueue(mentions.Count > 0 ? mentions[^1] : null);
            if (recent.Count > WrapLines)
                recent.Dequeue();
        }
        return found;
    }

    /// <summary>The documents a line names: outside the repository, missing, bare, or cited by a heading's words.</summary>
    private void CheckDocuments(string line, List<Mention> mentions, Action<CitationRule, string> add)
    {
        if (mentions.Any(m => m.Kind == MentionKind.Outside))
            add(CitationRule.OutsideDocument, $"cites a document that is not in the repository ({Describe(mentions.First(m => m.Kind == MentionKind.Outside), line)}): cite docs/ instead");
        foreach (Mention m in mentions.Where(m => m.Kind == MentionKind.Doc && !docs.ContainsKey(m.Name)))
            add(CitationRule.Unresolved, $"docs/{m.Name} does not exist");
        foreach (Mention m in mentions.Where(m => m.Bare))
            add(CitationRule.OutsideDocument, $"write docs/{m.Name}, not {m.Name}: a bare name is not a file of the repository");
        foreach (Match quoted in QuotedHeading().Matches(line))
        {
            if (mentions.Where(m => m.End == quoted.Index).Select(m => (Mention?)m).FirstOrDefault() is { Kind: MentionKind.Doc } doc)
                add(CitationRule.Unresolved, $"cites docs/{doc.Name} by a heading's words: cite its number (§N)");
        }
    }

    /// <summary>Every § of a line, against the document it belongs to.</summary>
    /// <param name="self">Inside docs/: the document the line stands in.</param>
    /// <param name="above">Outside docs/: the last document named on the lines just above.</param>
    private void CheckSections(string line, List<Mention> mentions, Mention? self, Mention? above, Action<CitationRule, string> add)
    {
        foreach (Match section in SectionRef().Matches(line))
        {
            if (IsTapLabel(line, section.Index))
                continue;
            Mention? before = mentions.Where(m => m.End <= section.Index).Select(m => (Mention?)m).LastOrDefault();
            Mention? owner = self is not null
                ? before is { } b && CitationChain().IsMatch(line[b.End..section.Index]) ? b : self
                : before ?? above;
            string sectionNumber = section.Groups[1].Value;
            switch (owner)
            {
                case null:
                    add(CitationRule.Unresolved, $"§{sectionNumber} names no document: put the document's path (docs/...) before it");
                    break;
                case { Kind: MentionKind.Doc } doc when docs.TryGetValue(doc.Name, out DocOutline? outline):
                    CheckSection(outline, sectionNumber, line[(section.Index + section.Length)..], add);
                    break;
                case { Kind: MentionKind.OtherFile } other:
                    add(CitationRule.Unresolved, $"§{sectionNumber} of {other.Name}: only documents in docs/ have numbered sections");
                    break;
                // Outside documents and missing docs files are reported once per line, by CheckDocuments.
            }
        }
    }

    private void CheckTestNames(string line, Action<CitationRule, string> add)
    {
        foreach (Match test in TestName().Matches(line))
        {
            string type = test.Groups[1].Value;
            string? member = test.Groups[2].Success && test.Groups[2].Value != "cs" ? test.Groups[2].Value : null; // Foo.cs: the file
            if (!testExists(type, member))
                add(CitationRule.UnknownTest, member is null ? $"`{type}` is not a test class of tests/LiveUpdateFs.Tests"
                    : $"`{type}.{member}` is not a member of {type} in tests/LiveUpdateFs.Tests");
        }
    }

    private void CheckLabel(string section, Action<CitationRule, string> add)
    {
        if (!docs.TryGetValue(LabelDocument, out DocOutline? outline) || !outline.HasSection(section))
            add(CitationRule.Unresolved, $"the test label {section} is no section of docs/{LabelDocument}");
    }

    private static void CheckSection(DocOutline outline, string section, string rest, Action<CitationRule, string> add)
    {
        if (!outline.HasSection(section))
        {
            add(CitationRule.Unresolved, $"docs/{outline.Name} has no §{section}");
            return;
        }
        Match steps = StepsAfter().Match(rest);
        if (!steps.Success)
            return;
        foreach (Match step in Regex.Matches(steps.Groups[1].Value, @"\d+"))
        {
            if (!outline.HasStep(section, int.Parse(step.Value)))
                add(CitationRule.Unresolved, $"docs/{outline.Name} §{section} has no step {step.Value}");
        }
    }

    private List<Mention> MentionsIn(string path, string line, bool inDocs)
    {
        var mentions = new List<Mention>();
        foreach (Match m in DocPath().Matches(line))
        {
            string dir = m.Groups[1].Value, name = m.Groups[2].Value;
            MentionKind kind;
            bool bare = false;
            if (dir.EndsWith("docs/", StringComparison.Ordinal))
                kind = MentionKind.Doc;
            else if (dir.Length == 0 && name != "README.md" && docs.ContainsKey(name))
                (kind, bare) = (MentionKind.Doc, !inDocs); // outside docs/ reported, its sections still checked
            else if (repositoryFileExists(dir + name) || repositoryFileExists(DirectoryOf(path) + dir + name))
                kind = MentionKind.OtherFile;
            else
                kind = MentionKind.Outside;
            mentions.Add(new Mention(m.Index, m.Index + m.Length, kind, kind == MentionKind.Doc ? name : dir + name, bare));
        }
        foreach (Match m in OutsideWord().Matches(line))
        {
            if (!mentions.Any(x => m.Index >= x.Start && m.Index < x.End))
                mentions.Add(new Mention(m.Index, m.Index + m.Length, MentionKind.Outside, m.Value.Trim()));
        }
        mentions.Sort((a, b) => a.Start.CompareTo(b.Start));
        return mentions;
    }

    private static string DirectoryOf(string path) => path.LastIndexOf('/') is var slash and >= 0 ? path[..(slash + 1)] : "";

    private static string Describe(Mention m, string line) => line[m.Start..m.End].Trim();

    private static bool IsTapLabel(string line, int sectionIndex) => sectionIndex > 0 && line[sectionIndex - 1] == '['
        && TapLabel().Match(line, sectionIndex - 1) is { Success: true } m && m.Index == sectionIndex - 1;

    /// <summary>A path ending in NAME.md, with what precedes the name.</summary>
    [GeneratedRegex(@"(?<![\w./-])((?:\.{1,2}/)*(?:[\w.-]+/)*)([\w-]+\.md)\b")]
    private static partial Regex DocPath();

    /// <summary>The old documents' names without .md, and "spec §".</summary>
    [GeneratedRegex(@"(?i)\bspec\s*(?=§)|\bluo-uapi\b|\bfuse-facts\b|\bshared/(?:spec|design)")]
    private static partial Regex OutsideWord();

    [GeneratedRegex(@"\s+[""“][A-Z][^""”]*[""”]")]
    private static partial Regex QuotedHeading();

    [GeneratedRegex(@"§(\d+(?:\.\d+)?)")]
    private static partial Regex SectionRef();

    [GeneratedRegex(@"^\s+steps?\s+(\d+(?:\s*(?:-|–|/|,|\band\b)\s*\d+)*)")]
    private static partial Regex StepsAfter();

    /// <summary>What may stand between a document's name and a § of it inside docs/.</summary>
    [GeneratedRegex(@"^(?:[\s§\d.,/()–-]|\bsteps?\b|\band\b)*$")]
    private static partial Regex CitationChain();

    [GeneratedRegex(@"\[§(\d+(?:\.\d+)?)\]")]
    private static partial Regex TapLabel();

    /// <summary>A C test's section label: a string literal that is a section number.</summary>
    [GeneratedRegex(@"""(\d{1,2}(?:\.\d{1,2})?)""")]
    private static partial Regex CLabel();

    /// <summary>A test class's name, backticked or not, and maybe one of its tests.</summary>
    [GeneratedRegex(@"(?<![\w.])([A-Z]\w*Tests)\b(?:\.([A-Za-z_]\w*))?")]
    private static partial Regex TestName();
}
