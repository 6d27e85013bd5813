namespace LiveUpdateFs.Tests.Integration;

/// <summary>A session that tests/c/chaos_stages created: its layout and
/// contents follow from its name ("c&lt;batch&gt;-&lt;i&gt;" or the writer's
/// "w&lt;batch&gt;") and the salt it was created with (a name used again gets
/// a new salt), so the model needs only these; the file count is kept to
/// compare with what a reboot says it froze.</summary>
/// <param name="Round">The round that created it (checks ask for the recent ones).</param>
public sealed record ChaosSession(string Name, int Files, long Bytes, int Round, int Salt = 0);
