namespace LiveUpdateFs.Core.Sessions;

/// <summary>One session of an <see cref="OrchestratorSnapshot"/>; <paramref name="Kind"/>
/// is "outgoing", "incoming" or "retrieved".</summary>
public sealed record SessionSnapshot(long Id, string Name, string Kind, IReadOnlyList<FileSnapshot> Files);
