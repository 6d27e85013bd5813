using LiveUpdateFs.Core.Sessions;

namespace LiveUpdateFs.Fuse.OpenFiles;

/// <summary>A session fd.</summary>
/// <param name="Node">The per-session node the fd is open on (status: who holds it).</param>
internal sealed record SessionFile(Session Session, string Node) : OpenFile;
