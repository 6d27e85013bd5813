using LiveUpdateFs.Core.Files;

namespace LiveUpdateFs.Interop;

/// <summary>The daemon's own reference to a caller's open file description.</summary>
/// <param name="closer">Closes it without waiting on anyone; null: a file the daemon made itself (closed in place).</param>
public sealed class HeldFile(SafeFd fd, FileFacts facts, TakenFiles? closer = null) : IHeldFile
{
    public SafeFd Fd { get; } = fd;
    public FileFacts Facts { get; } = facts;

    public void Dispose()
    {
        if (closer is null)
            Fd.Dispose();
        else
            closer.Close(Fd, Facts.FileSystem != FileSystemKind.Other);
    }
}
