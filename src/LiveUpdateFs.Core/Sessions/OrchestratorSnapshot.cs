namespace LiveUpdateFs.Core.Sessions;

/// <summary>A copy of the orchestrator's state taken under its lock
/// (<see cref="Orchestrator.Snapshot"/>), for status.json.</summary>
/// <param name="IncomingLoaded">The first open of the device ran (docs/behaviour.md §3): incoming sessions are listed only from then on.</param>
public sealed record OrchestratorSnapshot(bool DeviceOpen, bool Frozen, bool IncomingLoaded, IReadOnlyList<SessionSnapshot> Sessions);
