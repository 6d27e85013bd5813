using LiveUpdateFs.Core.Reboot;
using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Tests.Fakes;

/// <summary>Records what a freeze writes; can refuse the k-th file, the prepare or the publish.</summary>
public sealed class FakeHandoverImage(int failFile = 0, Errno failWith = default, Errno commitResult = default, Errno publishResult = default) : IHandoverImage
{
    /// <summary>"session NAME" and "file TOKEN" lines, in the order written.</summary>
    public List<string> Records { get; } = [];

    /// <summary>Prepared: complete, not yet published.</summary>
    public bool Committed { get; private set; }
    public bool Published { get; private set; }
    public bool Aborted { get; private set; }
    private int _files;

    public Errno Begin(IReadOnlyList<PreservedFile> files)
    {
        Records.Add($"begin {files.Count}");
        return Errno.None;
    }

    public void AddSession(SessionName name) => Records.Add($"session {name}");

    public Errno AddFile(PreservedFile file)
    {
        if (++_files == failFile)
            return failWith;
        Records.Add($"file {file.Token}");
        return Errno.None;
    }

    public Errno Prepare()
    {
        if (commitResult.IsError)
            return commitResult;
        Committed = true;
        return Errno.None;
    }

    public Errno Publish()
    {
        if (publishResult.IsError)
            return publishResult;
        Published = true;
        return Errno.None;
    }

    public void Abort()
    {
        if (!Published)
            Aborted = true;
    }
}
