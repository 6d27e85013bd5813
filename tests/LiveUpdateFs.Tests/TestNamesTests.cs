using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Text.RegularExpressions;
using LiveUpdateFs.Uapi;
using NUnit.Framework.Interfaces;

namespace LiveUpdateFs.Tests;

/// <summary>
/// Keeps the suite to one naming style. A test's name is a sentence that says the behaviour it
/// asserts, its words joined by '_' (<c>Sessions_survive_reboots_with_every_property</c>,
/// <c>GET_NAME_on_an_incoming_session_returns_its_name</c>):
/// <list type="bullet">
/// <item>the first word starts with a capital: a word (<c>Sessions</c>), a constant in capitals
/// (<c>SIGKILL</c>, the <c>GET</c> of GET_NAME) or the C# member under test (<c>ToString</c>);</item>
/// <item>every other word is lower case (<c>survive</c>, <c>0700</c>) or all capitals (<c>EBUSY</c>,
/// <c>NUL</c>, <c>RETRIEVE</c>), plural with an s (<c>VMs</c>); so no PascalCase after the first
/// word (<c>Memfd_IsPreserved</c>);</item>
/// <item>at least three words, and one after the first is lower case: a subject, a verb, the rest;</item>
/// <item>an errno is written as the kernel spells it (<c>EFAULT</c>, not <c>efault</c>).</item>
/// </list>
/// A <c>[TestCase]</c> that names its case does so as <c>{m}(label)</c>: the method's name, then
/// the case in parentheses, as NUnit shows arguments, so a filter on the method finds every case.
/// A class that holds tests ends in <c>Tests</c>.
/// </summary>
public sealed class TestNamesTests
{
    private static readonly Regex SentenceShape = new(@"^[A-Z][A-Za-z0-9]*(_([a-z0-9]+|[A-Z][A-Z0-9]*|[A-Z][A-Z0-9]+s))+$");
    private static readonly Regex CaseNameShape = new(@"^\{m\}\(.+\)$");

    private static readonly HashSet<string> ErrnoNames = typeof(Errno)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Where(f => f.FieldType == typeof(Errno) && (Errno)f.GetValue(null)! != Errno.None)
        .Select(f => f.Name)
        .ToHashSet();

    // Directory.Build.props turns the trimming analysis on here too (it reads IsTestProject before this
    // project sets it); the test assembly is never trimmed, so reflecting over its own types is safe.
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "the test assembly is not trimmed")]
    [UnconditionalSuppressMessage("Trimming", "IL2070", Justification = "the test assembly is not trimmed")]
    private static IEnumerable<MethodInfo> TestMethods() =>
        typeof(TestNamesTests).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Where(m => m.GetCustomAttributes().Any(a => a is ISimpleTestBuilder or ITestBuilder));

    private static bool IsSentence(string name)
    {
        string[] words = name.Split('_');
        return SentenceShape.IsMatch(name)
            && words.Length >= 3
            && words.Skip(1).Any(w => w.Any(char.IsLower))
            && !words.Any(w => w.Any(char.IsLower) && ErrnoNames.Contains(w.ToUpperInvariant()));
    }

    [Test]
    public void Every_test_name_is_a_sentence_in_the_one_style()
    {
        MethodInfo[] tests = TestMethods().ToArray();
        Assert.That(tests.Select(m => m.Name), Does.Contain(nameof(Every_test_name_is_a_sentence_in_the_one_style)), "the tests are found");
        Assert.That(tests.Where(m => !IsSentence(m.Name)).Select(m => $"{m.DeclaringType!.Name}.{m.Name}"), Is.Empty,
            "see TestNamesTests' summary for the style");
    }

    [Test]
    public void Every_named_test_case_is_the_method_name_and_a_label()
    {
        var cases = TestMethods()
            .SelectMany(m => m.GetCustomAttributes<TestCaseAttribute>().Select(c => (m, c.TestName)))
            .Where(c => c.TestName is not null)
            .ToArray();
        Assert.That(cases.Where(c => !CaseNameShape.IsMatch(c.TestName!)).Select(c => $"{c.m.Name}: {c.TestName}"), Is.Empty);
    }

    [Test]
    public void Every_class_holding_tests_has_a_name_ending_in_tests()
    {
        Assert.That(TestMethods().Select(m => m.DeclaringType!.Name).Distinct().Where(n => !n.EndsWith("Tests", StringComparison.Ordinal)), Is.Empty);
    }
}
