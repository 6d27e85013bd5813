using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Tests.Fakes;

/// <summary>Preserved contents from the previous boot: restores into a new
/// file with <paramref name="restoredFacts"/>, or fails with <paramref name="failure"/>.</summary>
public sealed class FakeRestorableFile(FileFacts restoredFacts, Errno failure = default) : IRestorableFile
{
    public static FakeRestorableFile Failing(Errno failure) => new(Facts.Memfd(0), failure);

    public long Size => restoredFacts.Size;

    public int RestoreCalls { get; private set; }

    /// <summary>Restoring is slow until <see cref="PrepareRestore"/> ran.</summary>
    public bool Slow { get; init; }

    public int PrepareCalls { get; private set; }

    public bool RestoreIsSlow => Slow && PrepareCalls == 0;

    public void PrepareRestore() => PrepareCalls++;
    public int DiscardCalls { get; private set; }

    /// <summary>The files built by successful restores.</summary>
    public List<FakeHeldFile> Restored { get; } = [];

    public Errno Restore(out IHeldFile? file)
    {
        RestoreCalls++;
        file = null;
        if (failure.IsError)
            return failure;
        var held = new FakeHeldFile(restoredFacts);
        Restored.Add(held);
        file = held;
        return Errno.None;
    }

    public void Discard() => DiscardCalls++;
}

/// <summary>A handler that accepts every file and records what it is asked to do.</summary>
public sealed class FakeFileHandler(Errno preserveResult = default) : IFileHandler
{
    public string Compatible => "fake-v1";

    public List<IHeldFile> Unpreserved { get; } = [];

    public bool CanPreserve(in FileFacts facts) => true;

    public Errno Preserve(IHeldFile file) => preserveResult;

    public void Unpreserve(IHeldFile file) => Unpreserved.Add(file);
}
