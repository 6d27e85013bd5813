namespace LiveUpdateFs.Tests.Docs;

/// <summary>The citation checker itself, on small texts with good and bad citations (docs/README.md §2).</summary>
public class DocCitationCheckerTests
{
    private const string Behaviour = """
        # Behaviour
        Intro.
        ## 1. Decoding
        1. nr
        2. size word
        ### 1.1 On the device
        1. first
        2. second
        3. third
        ## 2. The requests
        ### 2.1 CREATE
        1. reserve
        """;

    private const string Fuse = """
        # FUSE
        ## 1. Raw pointer
        ## 2. Encodings
        """;

    private static readonly CitationChecker Checker = new(
        new Dictionary<string, DocOutline>
        {
            ["behaviour.md"] = DocOutline.Parse("behaviour.md", Behaviour),
            ["fuse.md"] = DocOutline.Parse("fuse.md", Fuse),
        },
        path => path is "tests/c/README.md" or "README.md",
        (type, member) => type == "NativeLayoutTests" && member is null or "Structs_match");

    private static IReadOnlyList<CitationViolation> Check(string text, string path = "src/Some.cs") => Checker.Check(path, text);

    [Test]
    [Description("a citation of an existing section and step, and one of a section alone, pass")]
    public void Good_citations_pass()
    {
        Assert.That(Check("""
            // docs/behaviour.md §1.1 step 3: the third step.
            // See docs/fuse.md §2 and docs/behaviour.md §2.
            """), Is.Empty);
    }

    [Test]
    [Description("a missing section, a missing step and a missing document are each reported with file and line")]
    public void Missing_sections_steps_and_documents_are_reported()
    {
        var found = Check("""
            // fine: docs/behaviour.md §1.1
            // docs/behaviour.md §1.4
            // docs/behaviour.md §1.1 step 4
            // docs/nothing.md §1
            """);
        Assert.That(found.Select(v => v.ToString()), Is.EqualTo(new[]
        {
            "src/Some.cs:2: docs/behaviour.md has no §1.4",
            "src/Some.cs:3: docs/behaviour.md §1.1 has no step 4",
            "src/Some.cs:4: docs/nothing.md does not exist",
        }));
        Assert.That(found.Select(v => v.Rule), Is.All.EqualTo(CitationRule.Unresolved));
    }

    [Test]
    [Description("steps are the numbered items of a section's own text: §1 has steps 1-2, not its subsection's 3")]
    public void Steps_belong_to_the_section_whose_text_holds_them()
    {
        Assert.That(Check("// docs/behaviour.md §1 steps 1-2"), Is.Empty);
        Assert.That(Check("// docs/behaviour.md §1 step 3"), Has.Count.EqualTo(1));
        Assert.That(Check("// docs/behaviour.md §2 step 1"), Has.Count.EqualTo(1), "§2's step is in §2.1");
    }

    [Test]
    [Description("every number of a step list is checked: 'steps 2 and 4', 'step 2/4', 'steps 1-4'")]
    public void Every_step_of_a_list_is_checked()
    {
        foreach (string steps in new[] { "steps 2 and 4", "step 2/4", "steps 1-4", "steps 1, 4" })
            Assert.That(Check($"// docs/behaviour.md §1.1 {steps}").Select(v => v.Message), Is.EqualTo(new[] { "docs/behaviour.md §1.1 has no step 4" }), steps);
    }

    [Test]
    [Description("more sections after one document's path belong to it, and so does a § on the next two lines of a wrapped comment")]
    public void Later_sections_on_the_line_and_wrapped_lines_belong_to_the_named_document()
    {
        Assert.That(Check("// docs/behaviour.md §1.1 step 2, §2.1 step 1, §1 step 2"), Is.Empty);
        Assert.That(Check("// docs/behaviour.md §1.1, §2.2").Select(v => v.Message), Is.EqualTo(new[] { "docs/behaviour.md has no §2.2" }));
        Assert.That(Check("""
            /// The rules (docs/behaviour.md §1,
            /// §2.1 and
            /// §1.1).
            """), Is.Empty);
        Assert.That(Check("""
            /// docs/behaviour.md §1
            ///
            ///
            /// §2.1
            """).Single().Message, Does.Contain("names no document"));
    }

    [Test]
    [Description("a § with no document before it is reported")]
    public void A_bare_section_sign_is_reported()
    {
        var found = Check("[Description(\"§4.3 step 2: a duplicate token is EEXIST\")]", "tests/X/PreserveTests.cs");
        Assert.That(found.Single().Rule, Is.EqualTo(CitationRule.Unresolved));
        Assert.That(found.Single().Message, Does.Contain("names no document"));
    }

    [Test]
    [Description("the old spec, fuse-facts and a bare design.md are documents outside the repository, reported once per line")]
    public void Documents_outside_the_repository_are_reported()
    {
        string[] lines =
        [
            "// Spec §4.3 step 9: handler errors.",
            "/// (fuse-facts: \"Open, flush, release\").",
            "/// <summary>Where things live (design.md \"Defaults\").</summary>",
            "/* every answer checked against spec/luo-uapi.md [v7.2] */",
            "- The rules (spec `luo-uapi.md` §3, §4.2):",
            "# everything into artifacts/ (../shared/design.md).",
        ];
        foreach (string line in lines)
        {
            var found = Check(line);
            Assert.That(found.Count(v => v.Rule == CitationRule.OutsideDocument), Is.EqualTo(1), line);
            Assert.That(found.Count(v => v.Rule == CitationRule.Unresolved), Is.Zero, line);
        }
    }

    [Test]
    [Description("a document of docs/ named without docs/ is reported outside docs/ and allowed inside it; its sections are checked either way")]
    public void Inside_docs_neighbours_are_named_without_the_folder()
    {
        Assert.That(Check("see fuse.md §2").Single().Rule, Is.EqualTo(CitationRule.OutsideDocument));
        Assert.That(Check("FUSE cannot (fuse.md §2, §1); the rules (§1.1 step 3)", "docs/behaviour.md"), Is.Empty);
        Assert.That(Check("FUSE cannot (fuse.md §2, §3)", "docs/behaviour.md").Single().Message, Is.EqualTo("docs/fuse.md has no §3"));
        Assert.That(Check("as in §3", "docs/behaviour.md").Single().Message, Is.EqualTo("docs/behaviour.md has no §3"));
        Assert.That(Check("README \"How it works\", README.md, tests/c/README.md"), Is.Empty);
    }

    [Test]
    [Description("a section cited by its heading's words is reported: numbers are checked, words are not")]
    public void A_heading_cited_by_its_words_is_reported()
    {
        Assert.That(Check("// (docs/behaviour.md \"Hand-overs\")").Single().Message, Does.Contain("by a heading's words"));
    }

    [Test]
    [Description("the C tests' section labels and TAP lines name sections of behaviour.md")]
    public void Test_labels_are_sections_of_behaviour()
    {
        Assert.That(Check("check_rc(lu_preserve(s, fd, 7), EBADF, \"1.1\", \"closed fd -> EBADF\");", "tests/c/preserve_test.c"), Is.Empty);
        Assert.That(Check("check(ok, \"1.9\", \"nothing there\");", "tests/c/preserve_test.c").Single().Message,
            Is.EqualTo("the test label 1.9 is no section of docs/behaviour.md"));
        Assert.That(Check("Does.Contain(\"not ok 2 - [§2.1] RETRIEVE_FD\")", "tests/X/RebootTests.cs"), Is.Empty);
        Assert.That(Check("Does.Contain(\"not ok 2 - [§4.4] RETRIEVE_FD\")", "tests/X/RebootTests.cs"), Has.Count.EqualTo(1));
        Assert.That(Check("printf(\"%d\", \"1.9\");", "src/native/x.c"), Is.Empty, "only the C tests carry labels");
        Assert.That(Check("memcpy(buf, \"0123456789\", 10);", "tests/c/trap_stages.c"), Is.Empty, "a label has at most two digits a part");
    }

    [Test]
    [Description("a name ending in Tests, backticked or not, must be a test class, and Class.Member one of its tests")]
    public void Backticked_test_names_must_exist()
    {
        Assert.That(Check("/// checked by `NativeLayoutTests` and NativeLayoutTests.Structs_match (NativeLayoutTests.cs), not Repository.CTests"), Is.Empty);
        var found = Check("/// checked by the test suite (FuseLayoutTests) and `NativeLayoutTests.Gone`");
        Assert.That(found.Select(v => v.Rule), Is.All.EqualTo(CitationRule.UnknownTest));
        Assert.That(found.Select(v => v.Message), Is.EqualTo(new[]
        {
            "`FuseLayoutTests` is not a test class of tests/LiveUpdateFs.Tests",
            "`NativeLayoutTests.Gone` is not a member of NativeLayoutTests in tests/LiveUpdateFs.Tests",
        }));
    }

    [Test]
    [Description("headings without a number, or out of order, are numbering problems; code blocks are not headings")]
    public void Unnumbered_or_unordered_headings_are_reported()
    {
        var outline = DocOutline.Parse("x.md", """
            # X
            ## 1. One
            ### 1.2 Skipped 1.1
            ## Words only
            ## 3. Three after one
            ```
            ## not a heading
            ```
            """);
        Assert.That(outline.NumberingProblems, Has.Count.EqualTo(3));
        Assert.That(outline.NumberingProblems[0], Does.StartWith("x.md:3: subsection 1.2 follows 1.0"));
        Assert.That(DocOutline.Parse("behaviour.md", Behaviour).NumberingProblems, Is.Empty);
    }
}
