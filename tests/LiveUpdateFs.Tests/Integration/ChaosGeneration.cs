namespace LiveUpdateFs.Tests.Integration;

/// <summary>The generation the store's pointer names (README "A handover is
/// consumed once"): what a reboot froze, how, and whether the first open of
/// a boot has taken it over.</summary>
/// <param name="Sessions">The sessions it hands over.</param>
/// <param name="Durable">Its data is in the store; an in-place one's memfds
/// live only in the daemon that kept them.</param>
/// <param name="Consumed">A boot opened the device after it was committed:
/// a start after a crash offers nothing.</param>
public sealed record ChaosGeneration(IReadOnlyList<ChaosSession> Sessions, bool Durable, bool Consumed);
