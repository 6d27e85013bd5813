namespace LiveUpdateFs.Tests.Integration;

/// <summary>A session that tests/c/chaos_stages created: its layout and
/// contents follow from its name ("c&lt;round&gt;-&lt;i&gt;" or the writer's
/// "w&lt;round&gt;"), so the model only needs the name; the file count is
/// kept to compare with what a reboot says it froze.</summary>
public sealed record ChaosSession(string Name, int Files, long Bytes, int Round);
