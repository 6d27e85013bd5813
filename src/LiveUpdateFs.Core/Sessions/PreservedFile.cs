using LiveUpdateFs.Core.Files;

namespace LiveUpdateFs.Core.Sessions;

/// <summary>A file preserved in an outgoing session, under its token.</summary>
public sealed class PreservedFile(ulong token, IFileHandler handler, IHeldFile file)
{
    public ulong Token { get; } = token;
    public IFileHandler Handler { get; } = handler;
    public IHeldFile File { get; } = file;
}
