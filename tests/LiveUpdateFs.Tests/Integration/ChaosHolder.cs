namespace LiveUpdateFs.Tests.Integration;

/// <summary>A holder process that chaos_stages forked: it keeps only these
/// session fds (and a writer's memfd) until a reboot or the driver ends it.</summary>
public sealed record ChaosHolder(int Pid, IReadOnlyList<ChaosSession> Sessions, bool Writes);
