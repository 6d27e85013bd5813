using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Core.Files;

/// <summary>
/// A LUO file handler (docs/behaviour.md §4.3 step 5, §8): decides which files it can
/// preserve and does the handler-specific work. Handlers are asked in
/// registration order; the first that accepts a file gets it.
/// </summary>
public interface IFileHandler
{
    /// <summary>The compatible string recorded with each preserved file.</summary>
    string Compatible { get; }

    bool CanPreserve(in FileFacts facts);

    /// <summary>Handler preserve (docs/behaviour.md §4.3 step 9): handler-specific errors.</summary>
    Errno Preserve(IHeldFile file);

    /// <summary>Undo of Preserve when the outgoing session is discarded (docs/behaviour.md §5.2).</summary>
    void Unpreserve(IHeldFile file);
}
