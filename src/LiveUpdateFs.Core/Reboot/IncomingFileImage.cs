using LiveUpdateFs.Core.Sessions;

namespace LiveUpdateFs.Core.Reboot;

/// <summary>One file of an incoming session: its token, the compatible
/// string of the handler that preserved it, and where its contents wait.</summary>
public sealed record IncomingFileImage(ulong Token, string Compatible, IRestorableFile Source);
