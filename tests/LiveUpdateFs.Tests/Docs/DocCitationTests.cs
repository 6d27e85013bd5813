namespace LiveUpdateFs.Tests.Docs;

/// <summary>
/// Every rule a comment, test or script cites resolves to docs/ of this
/// repository (docs/README.md §2); docs/ itself is numbered.
/// </summary>
public class DocCitationTests
{
    private static readonly Lazy<IReadOnlyList<CitationViolation>> Violations = new(() =>
    {
        var checker = new CitationChecker(CitedSources.Docs(), CitedSources.Exists, CitedSources.TestCatalog());
        return CitedSources.Files()
            .SelectMany(path => checker.Check(path, File.ReadAllText(Path.Combine(Integration.Repository.Root, path))))
            .ToList();
    });

    [Test]
    [Description("docs/README.md §2: a citation names an existing document, section and step of docs/, and every § names its document")]
    public void Every_citation_resolves_to_a_section_of_docs() => AssertNone(CitationRule.Unresolved);

    [Test]
    [Description("docs/README.md §2: the spec, fuse-facts and design notes outside the repository are not cited; docs/ is")]
    public void No_source_cites_a_document_outside_the_repository() => AssertNone(CitationRule.OutsideDocument);

    [Test]
    [Description("docs/README.md §2: a test class named in backticks is a test class (and member) of tests/LiveUpdateFs.Tests")]
    public void Backticked_test_names_are_tests_of_the_test_project() => AssertNone(CitationRule.UnknownTest);

    [Test]
    [Description("docs/README.md §2: every document's headings are numbered `## N. Title` and `### N.M Title`, in order")]
    public void The_headings_of_docs_are_numbered_in_order()
    {
        var problems = CitedSources.Docs().Values.SelectMany(d => d.NumberingProblems).ToList();
        Assert.That(problems, Is.Empty, string.Join('\n', problems));
    }

    private static void AssertNone(CitationRule rule)
    {
        var found = Violations.Value.Where(v => v.Rule == rule).ToList();
        Assert.That(found, Is.Empty, $"{found.Count} citations in {found.Select(v => v.Path).Distinct().Count()} files:\n"
            + string.Join('\n', found));
    }
}
