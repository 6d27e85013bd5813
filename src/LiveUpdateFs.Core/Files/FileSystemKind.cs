namespace LiveUpdateFs.Core.Files;

/// <summary>Which filesystem a file lives on, as far as handlers care.</summary>
public enum FileSystemKind
{
    Other,
    Tmpfs,
    Hugetlbfs,
}
