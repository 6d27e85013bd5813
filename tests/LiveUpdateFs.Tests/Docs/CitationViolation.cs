namespace LiveUpdateFs.Tests.Docs;

/// <summary>The kinds of broken citation <see cref="CitationChecker"/> finds.</summary>
public enum CitationRule
{
    /// <summary>docs/NAME.md, its §N or its step K does not exist, or a § names no document.</summary>
    Unresolved,

    /// <summary>A document that is not in the repository (the old spec, fuse-facts, a bare design.md).</summary>
    OutsideDocument,

    /// <summary>A name ending in Tests that is no test class (or Class.Member no test) of the test project.</summary>
    UnknownTest,
}

/// <summary>One broken citation, as "path:line: message".</summary>
public sealed record CitationViolation(string Path, int Line, CitationRule Rule, string Message)
{
    public override string ToString() => $"{Path}:{Line}: {Message}";
}
