namespace LiveUpdateFs.Core.Sessions;

/// <summary>One file of a <see cref="SessionSnapshot"/>: its token, handler, size
/// and state ("preserved", "waiting", "retrieved" or "failed (errno)").</summary>
public sealed record FileSnapshot(ulong Token, string Handler, long Size, string State);
