namespace LiveUpdateFs.Fuse.Status;

/// <summary>One preserved file of a session in status.json.</summary>
/// <param name="Token">The token as decimal text: a u64 does not fit a JSON number everywhere.</param>
/// <param name="Handler">The file handler that preserved it (memfd).</param>
/// <param name="State">preserved, retrieved, …: the orchestrator's word for it.</param>
public sealed record StatusFile(string Token, string Handler, long Size, string State);
