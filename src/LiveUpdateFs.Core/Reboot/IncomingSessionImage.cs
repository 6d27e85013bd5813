using LiveUpdateFs.Core.Sessions;

namespace LiveUpdateFs.Core.Reboot;

/// <summary>A session handed over by the previous boot, as read back.</summary>
public sealed record IncomingSessionImage(SessionName Name, IReadOnlyList<IncomingFileImage> Files);
